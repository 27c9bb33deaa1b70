import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { embeddingContentHash, embeddingJobs, parseFeatureRepo } from '@mmctr/feature-repo';
import { entityEmbeddingJobId } from '@mmctr/online-store';
import { entityEmbeddingJobs } from './ingest-online.repository';

const REPOS = join(__dirname, '..', '..', '..', '..', 'feature-repos');
const repo = parseFeatureRepo({
  ...(JSON.parse(readFileSync(join(REPOS, 'movielens', 'repo.json'), 'utf8')) as object),
  embeddings: [
    { name: 'title', entity: 'movie', width: 384, inputs: ['movie.title'] },
    { name: 'text', entity: 'movie', width: 384, inputs: ['movie.title', 'movie.genres'] },
  ],
});

describe('entityEmbeddingJobs', () => {
  it('makes one job per declared embedding and movie snapshot, keyed by the hash of its input values', () => {
    const { specs } = embeddingJobs(repo);
    const jobs = entityEmbeddingJobs(specs, [
      { movie_id: '1', ts_ms: 5, title: 'Toy Story (1995)', year: 1995, genres: ['Animation', 'Comedy'] },
      { movie_id: 'a:b', ts_ms: 6, title: 'Heat (1995)', year: 1995 },
    ]);
    expect(jobs).toEqual([
      {
        embedding: 'title',
        entity: 'movie',
        key: '1',
        ts_ms: 5,
        inputs: ['Toy Story (1995)'],
        content_hash: embeddingContentHash(['Toy Story (1995)']),
      },
      {
        embedding: 'title',
        entity: 'movie',
        key: 'a:b',
        ts_ms: 6,
        inputs: ['Heat (1995)'],
        content_hash: embeddingContentHash(['Heat (1995)']),
      },
      {
        embedding: 'text',
        entity: 'movie',
        key: '1',
        ts_ms: 5,
        inputs: ['Toy Story (1995)', ['Animation', 'Comedy']],
        content_hash: embeddingContentHash(['Toy Story (1995)', ['Animation', 'Comedy']]),
      },
      {
        embedding: 'text',
        entity: 'movie',
        key: 'a:b',
        ts_ms: 6,
        inputs: ['Heat (1995)', []],
        content_hash: embeddingContentHash(['Heat (1995)', []]),
      },
    ]);
    // BullMQ refuses ':' in job ids; the same content always gives the same id.
    expect(entityEmbeddingJobId(jobs[1]!)).toBe(`ent-title-a%3Ab-${jobs[1]!.content_hash}`);
  });

  it('makes none for an entity without embeddings', () => {
    expect(entityEmbeddingJobs([], [{ user_id: 'u', ts_ms: 1 }])).toEqual([]);
  });
});
