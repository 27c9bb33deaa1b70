import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { embeddingContentHash, loadFeatureRepo, parseFeatureRepo } from '@mmctr/feature-repo';
import type { EntityEmbeddingJob } from '@mmctr/online-store';
import { EmbedFailure } from '../errors';
import type { EntityEmbeddingRepository, EntityEmbeddingRow } from '../storage/entity-embedding.repository';
import type { MmVectorEntry, MmVectorRepository } from '../storage/mm-vector.repository';
import { EntityEmbeddingService, EntityEmbeddings } from './entity-embedding.service';

const REPOS = join(__dirname, '..', '..', '..', '..', 'feature-repos');
const demo = loadFeatureRepo(join(REPOS, 'demo'));
/** The MovieLens repository with exactly one embedding: the movie title through the text encoder. */
const movielens = parseFeatureRepo({
  ...(JSON.parse(readFileSync(join(REPOS, 'movielens', 'repo.json'), 'utf8')) as object),
  embeddings: [{ name: 'title', entity: 'movie', width: 384, inputs: ['movie.title'] }],
});

const job = (title: string, over: Partial<EntityEmbeddingJob> = {}): EntityEmbeddingJob => ({
  embedding: 'title',
  entity: 'movie',
  key: '1',
  ts_ms: 10,
  content_hash: embeddingContentHash([title]),
  inputs: [title],
  ...over,
});

function setUp(opts: { newer?: boolean; written?: boolean } = {}) {
  const texts: string[] = [];
  const rows: EntityEmbeddingRow[] = [];
  const entries: MmVectorEntry[] = [];
  const encoder = {
    text: (t: string) => {
      texts.push(t);
      return Promise.resolve(new Float32Array(384).fill(0.05));
    },
  };
  const mm = {
    entityKey: (e: string, k: string) => `p:emb:${e}:${k}`,
    hasNewer: () => Promise.resolve(opts.newer ?? false),
    write: (e: MmVectorEntry[]) => {
      entries.push(...e);
      return Promise.resolve(e.map(() => opts.written ?? true));
    },
  } as unknown as MmVectorRepository;
  const repo = {
    store: (r: EntityEmbeddingRow) => {
      rows.push(r);
      return Promise.resolve();
    },
  } as unknown as EntityEmbeddingRepository;
  const service = new EntityEmbeddingService(new EntityEmbeddings(movielens, 384), encoder, 'txt', repo, mm);
  return { service, texts, rows, entries };
}

describe('EntityEmbeddings', () => {
  it('derives the jobs of the running repository, and none from the demo (its catalogue path)', () => {
    expect([...new EntityEmbeddings(movielens, 384).specs.keys()]).toEqual(['title']);
    expect(new EntityEmbeddings(movielens, 128).unsupported.map((u) => u.reason)).toEqual([
      "width 384 differs from the text encoder's 128",
    ]);
    const d = new EntityEmbeddings(demo, 384);
    expect([d.specs.size, d.unsupported.length]).toEqual([0, 0]);
  });
});

describe('EntityEmbeddingService', () => {
  it('encodes the inputs text and stores the vector under the emb: key and in entity_embeddings', async () => {
    const { service, texts, rows, entries } = setUp();
    await expect(service.embed(job(' Heat (1995) '))).resolves.toBe('stored');
    expect(texts).toEqual(['Heat (1995)']);
    expect(entries).toMatchObject([
      { key: 'p:emb:title:1', tsMs: 10, contentHash: job(' Heat (1995) ').content_hash },
    ]);
    expect(rows).toMatchObject([
      {
        embedding: 'title',
        entity: 'movie',
        entity_key: '1',
        content_hash: job(' Heat (1995) ').content_hash,
      },
    ]);
    expect(rows[0]!.vec).toHaveLength(384);
  });

  it('skips stale versions without encoding them', async () => {
    const newer = setUp({ newer: true });
    await expect(newer.service.embed(job('Heat'))).resolves.toBe('stale');
    expect(newer.texts).toEqual([]);
    const lost = setUp({ written: false });
    await expect(lost.service.embed(job('Heat'))).resolves.toBe('stale');
    expect(lost.rows).toEqual([]);
  });

  it('stores an empty vector for empty text (readers see zeros)', async () => {
    const { service, texts, rows } = setUp();
    await expect(service.embed(job('  '))).resolves.toBe('stored');
    expect([texts, Array.from(rows[0]!.vec)]).toEqual([[], []]);
  });

  it.each([
    ['an embedding the repository does not declare', { embedding: 'plot' }],
    ['another entity', { entity: 'user' }],
    ['inputs of another shape', { inputs: ['a', 'b'] }],
    ['a hash that is not the inputs', { content_hash: 'x' }],
    ['no key', { key: '' }],
  ])('fails %s permanently', async (_what, over) => {
    const { service } = setUp();
    const err = await service
      .embed(job('Heat', over as Partial<EntityEmbeddingJob>))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EmbedFailure);
    expect(err).toMatchObject({ reason: 'invalid_job', permanent: true });
  });
});
