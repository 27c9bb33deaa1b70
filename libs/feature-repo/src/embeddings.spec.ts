import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  embeddingContentHash,
  embeddingInputValues,
  embeddingJobs,
  embeddingStore,
  embeddingText,
  formatPlan,
  loadFeatureRepo,
  parseFeatureRepo,
  planChanges,
} from './index';
import type { FeatureRepo } from './types';

const ROOT = join(__dirname, '..', '..', '..');
const repoAt = (name: string) => loadFeatureRepo(join(ROOT, 'feature-repos', name));

const MOVIELENS_TITLE = { name: 'title', entity: 'movie', width: 384, inputs: ['movie.title'] };

/** The MovieLens repository with its embeddings replaced (and no vector feature). */
function movielensWith(embeddings: unknown[], edit: (doc: Record<string, unknown>) => void = () => {}) {
  const doc = JSON.parse(
    readFileSync(join(ROOT, 'feature-repos', 'movielens', 'repo.json'), 'utf8'),
  ) as Record<string, unknown>;
  doc.embeddings = embeddings;
  doc.features = (doc.features as { kind: string }[]).filter((f) => f.kind !== 'vector');
  edit(doc);
  return parseFeatureRepo(doc);
}

describe('embeddingStore', () => {
  it('keeps the catalogue fused embedding apart, stores every other entity by name, and nothing else of item', () => {
    expect(embeddingStore({ entity: 'item', name: 'fused' })).toBe('catalogue');
    expect(embeddingStore({ entity: 'movie', name: 'title' })).toBe('entity');
    expect(embeddingStore({ entity: 'item', name: 'title' })).toBeUndefined();
  });
});

describe('embeddingJobs', () => {
  it('derives no entity job from the demo: its fused embedding is the catalogue path', () => {
    expect(embeddingJobs(repoAt('demo'))).toEqual({ specs: [], unsupported: [] });
  });

  it('derives the movie title job of the MovieLens repository', () => {
    const jobs = embeddingJobs(movielensWith([MOVIELENS_TITLE]), 384);
    expect(jobs.unsupported).toEqual([]);
    expect(jobs.specs).toEqual([
      {
        name: 'title',
        entity: 'movie',
        key: 'movie_id',
        width: 384,
        inputs: [{ attribute: 'title', type: 'string', fallback: '' }],
      },
    ]);
  });

  it('derives the title job of the MovieLens repository as it is', () => {
    expect(embeddingJobs(repoAt('movielens'), 384)).toEqual(
      embeddingJobs(movielensWith([MOVIELENS_TITLE]), 384),
    );
  });

  it('reports what the embedder cannot compute: another width, non-text inputs, no inputs, no snapshot table', () => {
    const base = { name: 'title', entity: 'movie', width: 384 };
    const reason = (repo: FeatureRepo, width?: number) =>
      embeddingJobs(repo, width).unsupported.map((u) => u.reason);
    expect(reason(movielensWith([{ ...base, inputs: ['movie.title'] }]), 128)).toEqual([
      "width 384 differs from the text encoder's 128",
    ]);
    expect(reason(movielensWith([{ ...base, inputs: ['movie.year'] }]))).toEqual([
      "input 'movie.year' is int: text inputs are string or string_list attributes",
    ]);
    expect(reason(movielensWith([{ ...base, inputs: ['user.occupation'] }]))).toEqual([
      "input 'user.occupation' is not an attribute of 'movie'",
    ]);
    expect(reason(movielensWith([{ ...base, inputs: [] }]))).toEqual(['no inputs']);
    const noTable = movielensWith([{ ...base, inputs: ['movie.title'] }], (doc) => {
      const movie = (doc.entities as { name: string; updates?: string }[]).find((e) => e.name === 'movie')!;
      movie.updates = 'none';
    });
    expect(reason(noTable)).toEqual(["entity 'movie' has no snapshot table to embed from"]);
  });

  it('reads string and string_list inputs in declared order, with defaults for absent values', () => {
    const repo = movielensWith([
      { name: 'text', entity: 'movie', width: 384, inputs: ['movie.genres', 'movie.title'] },
    ]);
    const [spec] = embeddingJobs(repo).specs;
    expect(embeddingInputValues(spec!, { title: ' Heat (1995) ', genres: ['Action', '', 'Crime'] })).toEqual([
      ['Action', '', 'Crime'],
      ' Heat (1995) ',
    ]);
    expect(embeddingInputValues(spec!, { title: 7 })).toEqual([[], '']);
    expect(embeddingText([['Action', '', 'Crime'], ' Heat (1995) '])).toBe('Action, Crime. Heat (1995)');
    expect(embeddingText(['', []])).toBe('');
  });
});

describe('embeddingContentHash', () => {
  // The trainer computes the same hash (apps/trainer/tests/test_embeddings.py holds these vectors too).
  it('hashes the values as a compact JSON array', () => {
    expect(embeddingContentHash(['Toy Story (1995)'])).toBe(
      '055c5d2b421ba412cac8cb8285a4a50b1c84d4ba10a099e9c633373bc9018df2',
    );
    expect(embeddingContentHash(['Amélie "Le Fabuleux" \\ \n\t\x01\x7f\u2028 日本', ['a', 'b']])).toBe(
      '7eb39c7f81339a76b5e3a31186c84cdb90e69e1ca10e55197cd2a9f4790e28e7',
    );
  });
});

describe('plan of a new entity embedding', () => {
  it('says what the embedder computes, or why it computes nothing', () => {
    const from = movielensWith([]);
    const to = movielensWith([{ name: 'title', entity: 'movie', width: 384, inputs: ['movie.title'] }]);
    expect(planChanges(from, to, { database: 'x' }).notes).toEqual([
      "embedding 'title' (movie, width 384): the embedder encodes movie.title with its text encoder on each movie snapshot (entity_embeddings)",
    ]);
    const year = movielensWith([{ name: 'year', entity: 'movie', width: 384, inputs: ['movie.year'] }]);
    expect(formatPlan(from, year, planChanges(from, year, { database: 'x' }), false)).toContain(
      "embedding 'year' (movie, width 384) is not embedded (input 'movie.year' is int: text inputs are string or string_list attributes): its features read zeros",
    );
    const narrow = movielensWith([{ name: 'title', entity: 'movie', width: 64, inputs: ['movie.title'] }]);
    expect(planChanges(from, narrow, { database: 'x' }).notes).toEqual([
      "embedding 'title' (movie, width 64) is not embedded (width 64 differs from the text encoder's 384): its features read zeros",
    ]);
    const inputs = movielensWith([
      { name: 'title', entity: 'movie', width: 384, inputs: ['movie.title', 'movie.genres'] },
    ]);
    expect(planChanges(to, inputs, { database: 'x' }).breaking).toEqual([
      'embeddings.title.inputs: [movie.title] -> [movie.title, movie.genres]: re-embed every movie',
    ]);
  });
});
