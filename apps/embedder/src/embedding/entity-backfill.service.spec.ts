import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { embeddingContentHash, loadFeatureRepo, parseFeatureRepo } from '@mmctr/feature-repo';
import type { EntityEmbeddingJob } from '@mmctr/online-store';
import { permanent, transient } from '../errors';
import type { EntitySnapshot, EntityTable } from '../storage/entity-snapshot.repository';
import type { BackfillProgress } from './backfill.service';
import { EntityBackfillService } from './entity-backfill.service';
import { EntityEmbeddings } from './entity-embedding.service';

const REPOS = join(__dirname, '..', '..', '..', '..', 'feature-repos');
const raw = JSON.parse(readFileSync(join(REPOS, 'movielens', 'repo.json'), 'utf8')) as object;
/** MovieLens with two entity embeddings (title; title and genres) and one the embedder cannot compute. */
const movielens = parseFeatureRepo({
  ...raw,
  embeddings: [
    { name: 'title', entity: 'movie', width: 384, inputs: ['movie.title'] },
    { name: 'title_genres', entity: 'movie', width: 384, inputs: ['movie.title', 'movie.genres'] },
    { name: 'wide', entity: 'movie', width: 512, inputs: ['movie.title'] },
  ],
});

const snap = (movie_id: string, ts_ms: number, title: string, genres?: string[]): EntitySnapshot => ({
  movie_id,
  ts_ms,
  title,
  ...(genres ? { genres } : {}),
});

/** An entity table in memory (its newest rows) and the vectors stored so far, both in key order. */
function setUp(
  rows: EntitySnapshot[],
  opts: {
    stored?: [string, string][];
    outcome?: (j: EntityEmbeddingJob) => 'stored' | 'stale' | Error;
    pageSize?: number;
    tableExists?: boolean;
    repo?: typeof movielens;
    /** What countKeys answers (an estimate on the real table); the keys' number by default. */
    estimatedKeys?: number;
  } = {},
) {
  const sorted = [...rows].sort((a, b) => String(a.movie_id).localeCompare(String(b.movie_id)));
  const pages: { after: string; table: EntityTable }[] = [];
  const hashQueries: [string, string][] = [];
  const embedded: EntityEmbeddingJob[] = [];
  let flushed = 0;
  const snapshots = {
    exists: () => Promise.resolve(opts.tableExists ?? true),
    countKeys: () => Promise.resolve(opts.estimatedKeys ?? sorted.length),
    newest: (table: EntityTable, after: string, limit: number) => {
      pages.push({ after, table });
      const rest = sorted.filter((r) => String(r.movie_id) > after);
      return Promise.resolve({ rows: rest.slice(0, limit), full: rest.length >= limit });
    },
  };
  const stored = {
    storedHashes: (q: { embedding: string; encoder: string }, first: string, last: string) => {
      hashQueries.push([first, last]);
      expect(q).toMatchObject({ encoder: 'minilm' });
      return Promise.resolve(
        new Set((opts.stored ?? []).filter(([k]) => k >= first && k <= last).map(([k, h]) => `${k}\t${h}`)),
      );
    },
    flush: () => {
      flushed++;
      return Promise.resolve();
    },
  };
  const service = {
    embed: async (j: EntityEmbeddingJob) => {
      embedded.push(j);
      const out = opts.outcome?.(j) ?? 'stored';
      if (out instanceof Error) throw out;
      return out;
    },
  };
  const repo = opts.repo ?? movielens;
  const backfill = new EntityBackfillService(
    repo,
    new EntityEmbeddings(repo, 384),
    snapshots,
    stored,
    service,
    'minilm',
    { pageSize: opts.pageSize ?? 1_000 },
  );
  return { backfill, pages, hashQueries, embedded, flushed: () => flushed };
}

describe('EntityBackfillService', () => {
  it('embeds the keys whose newest content has no vector, with the inputs and hash ingest would send', async () => {
    const t = setUp(
      [snap('1', 10, 'Toy Story (1995)'), snap('2', 20, 'Heat (1995)'), snap('3', 30, 'Casino (1995)')],
      // 1 is embedded with its current title, 2 only with an older one.
      {
        stored: [
          ['1', embeddingContentHash(['Toy Story (1995)'])],
          ['2', embeddingContentHash(['Heat'])],
        ],
      },
    );
    const result = await t.backfill.embed('title', { concurrency: 2 });
    expect(t.embedded.sort((a, b) => a.key.localeCompare(b.key))).toEqual([
      {
        embedding: 'title',
        entity: 'movie',
        key: '2',
        ts_ms: 20,
        content_hash: embeddingContentHash(['Heat (1995)']),
        inputs: ['Heat (1995)'],
      },
      {
        embedding: 'title',
        entity: 'movie',
        key: '3',
        ts_ms: 30,
        content_hash: embeddingContentHash(['Casino (1995)']),
        inputs: ['Casino (1995)'],
      },
    ]);
    expect(result).toEqual({
      embedding: 'title',
      entity: 'movie',
      table: 'ml_movies',
      total: 3,
      skipped: 1,
      stored: 2,
      stale: 0,
      failures: [],
    });
    expect(t.pages[0]!.table).toEqual({ table: 'ml_movies', key: 'movie_id', columns: ['title'] });
    expect(t.flushed()).toBe(1);
  });

  it('reads every declared input, an absent one as its default', async () => {
    const t = setUp([
      snap('1', 10, 'Toy Story (1995)', ['Animation', 'Comedy']),
      snap('2', 20, 'Heat (1995)'),
    ]);
    await t.backfill.embed('title_genres', { concurrency: 1 });
    expect(t.pages[0]!.table.columns).toEqual(['title', 'genres']);
    expect(t.embedded.map((j) => [j.key, j.inputs, j.content_hash])).toEqual([
      [
        '1',
        ['Toy Story (1995)', ['Animation', 'Comedy']],
        embeddingContentHash(['Toy Story (1995)', ['Animation', 'Comedy']]),
      ],
      ['2', ['Heat (1995)', []], embeddingContentHash(['Heat (1995)', []])],
    ]);
  });

  it('--force embeds every key without reading what is stored', async () => {
    const t = setUp([snap('1', 10, 'Toy Story (1995)')], {
      stored: [['1', embeddingContentHash(['Toy Story (1995)'])]],
    });
    const result = await t.backfill.embed('title', { force: true, concurrency: 4 });
    expect(t.hashQueries).toEqual([]);
    expect(t.embedded.map((j) => j.key)).toEqual(['1']);
    expect(result).toMatchObject({ total: 1, skipped: 0, stored: 1 });
  });

  it('pages through the table by key, checking each page against its key range, and reports progress', async () => {
    const rows = Array.from({ length: 7 }, (_, i) => snap(`k${i}`, i, `title ${i}`));
    const progress: BackfillProgress[] = [];
    const t = setUp(rows, { pageSize: 3, stored: [['k4', embeddingContentHash(['title 4'])]] });
    const result = await t.backfill.embed('title', { concurrency: 2, onProgress: (p) => progress.push(p) });
    expect(t.pages.map((p) => p.after)).toEqual(['', 'k2', 'k5']);
    expect(t.hashQueries).toEqual([
      ['k0', 'k2'],
      ['k3', 'k5'],
      ['k6', 'k6'],
    ]);
    expect(t.embedded.map((j) => j.key).sort()).toEqual(['k0', 'k1', 'k2', 'k3', 'k5', 'k6']);
    expect(result).toMatchObject({ total: 7, skipped: 1, stored: 6, stale: 0 });
    expect(progress[0]).toEqual({ total: 7, done: 0, failed: 0 });
    expect(progress.at(-1)).toEqual({ total: 7, done: 7, failed: 0 });
    expect(progress.map((p) => p.done)).toEqual([...progress.map((p) => p.done)].sort((a, b) => a - b));
  });

  it('shows the estimated key count as the progress total, and reports the keys it visited', async () => {
    const rows = Array.from({ length: 7 }, (_, i) => snap(`k${i}`, i, `title ${i}`));
    for (const estimatedKeys of [9, 5]) {
      const progress: BackfillProgress[] = [];
      const t = setUp(rows, { pageSize: 3, estimatedKeys });
      const result = await t.backfill.embed('title', { concurrency: 2, onProgress: (p) => progress.push(p) });
      expect(progress[0]).toEqual({ total: estimatedKeys, done: 0, failed: 0 });
      expect(progress.at(-1)!.done).toBe(7);
      expect(progress.at(-1)!.total).toBe(Math.max(estimatedKeys, 7)); // an underestimate follows `done`
      expect(result).toMatchObject({ total: 7, stored: 7 });
    }
  });

  it('counts stale keys and keeps going past failures, each with its reason', async () => {
    const t = setUp([snap('1', 10, 'a'), snap('2', 20, 'b'), snap('3', 30, 'c'), snap('4', 40, 'd')], {
      outcome: (j) =>
        j.key === '2'
          ? 'stale'
          : j.key === '3'
            ? transient('storage_failed', 'redis: down')
            : j.key === '4'
              ? new Error('boom')
              : 'stored',
    });
    const result = await t.backfill.embed('title', { concurrency: 3 });
    expect(result).toMatchObject({ total: 4, skipped: 0, stored: 1, stale: 1 });
    expect(result.failures.sort((a, b) => a.key.localeCompare(b.key))).toEqual([
      { key: '3', reason: 'storage_failed', message: 'storage_failed: redis: down' },
      { key: '4', reason: 'unknown', message: 'boom' },
    ]);
  });

  it('a key the worker refuses is a failure, not a crash', async () => {
    const t = setUp([snap('1', 10, 'a')], { outcome: () => permanent('invalid_job', 'no') });
    const result = await t.backfill.embed('title', { concurrency: 1 });
    expect(result.failures.map((f) => f.reason)).toEqual(['invalid_job']);
  });

  it('refuses an unknown, unsupported or catalogue embedding, naming the declared ones', async () => {
    const t = setUp([]);
    await expect(t.backfill.embed('nope', { concurrency: 1 })).rejects.toThrow(
      "no entity embedding 'nope' in movielens ml-3; declared: title (movie), title_genres (movie)",
    );
    expect(() => t.backfill.target('wide')).toThrow(
      "entity embedding 'wide' of 'movie' is not embedded: width 512 differs from the text encoder's 384 (embedded: title (movie), title_genres (movie))",
    );
    const demo = setUp([], { repo: loadFeatureRepo(join(REPOS, 'demo')) });
    expect(() => demo.backfill.target('fused')).toThrow(
      "'fused' is the catalogue's embedding: use embed --all",
    );
    expect(demo.pages).toEqual([]);
  });

  it('refuses an entity without a table, and a table the database lacks', async () => {
    const noTable = parseFeatureRepo({
      ...raw,
      entities: (raw as { entities: { name: string }[] }).entities.map((e) =>
        e.name === 'movie' ? { ...e, table: undefined, updates: undefined } : e,
      ),
      embeddings: [{ name: 'title', entity: 'movie', width: 384, inputs: ['movie.title'] }],
    });
    expect(() => setUp([], { repo: noTable }).backfill.target('title')).toThrow(
      "entity embedding 'title' of 'movie' is not embedded: entity 'movie' has no snapshot table to embed from",
    );
    const t = setUp([snap('1', 10, 'a')], { tableExists: false });
    await expect(t.backfill.embed('title', { concurrency: 1 })).rejects.toThrow(
      "title: table 'ml_movies' of entity 'movie' is not in the database",
    );
    expect(t.embedded).toEqual([]);
  });
});
