import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type IORedis from 'ioredis';
import {
  ClickHouseService,
  MIGRATIONS_DIR,
  MigrationRunner,
  clickHouseFromConfig,
  loadMigrations,
} from '@mmctr/clickhouse';
import { loadConfig } from '@mmctr/config';
import {
  FeatureStoreRepository,
  applyRepository,
  embeddingJobs,
  loadFeatureRepo,
  type NormalisedRecord,
} from '@mmctr/feature-repo';
import { entityEmbeddingJobs } from '@mmctr/ingest';
import { ItemEmbeddingQueue, entityVectorKey, type EntityEmbeddingJob } from '@mmctr/online-store';
import { AppModule } from '../app.module';
import type { ModelSet } from '../inference/model-manifest';
import { EntityEmbeddingRepository } from '../storage/entity-embedding.repository';
import { EntitySnapshotRepository } from '../storage/entity-snapshot.repository';
import { MODEL_SET } from '../tokens';
import { REPO_ROOT, bullConnection, runEnv, waitForJobs } from '../testing/harness';
import { EntityBackfillModule } from './entity-backfill.module';
import { EntityBackfillService } from './entity-backfill.service';
import { EntityEmbeddingService, EntityEmbeddings } from './entity-embedding.service';
import { tempDir } from '../../../../test/support/temp-dir';

jest.setTimeout(300_000);

const execFileP = promisify(execFile);

const MOVIELENS = join(REPO_ROOT, 'feature-repos', 'movielens');
const repo = loadFeatureRepo(MOVIELENS);
const run = `ebf${Date.now().toString(36)}`;
const database = `mmctr_test_${run}`;
const root = tempDir('entity-backfill');
const env = {
  ...runEnv(run, join(root, 'projections'), root),
  CLICKHOUSE_DATABASE: database,
  FEATURE_REPO: MOVIELENS,
  // The worker and the backfill batch the same texts differently; with one encoder run per text
  // (EMBEDDER_TEXT_RUNS' default) their vectors are still equal bit for bit.
};

/** The worker (AppModule, consuming the run's queue) and the backfill in one context. */
@Module({ imports: [AppModule, EntityBackfillModule] })
class WorkerAndBackfill {}

let admin: ClickHouseService;
let ch: ClickHouseService;
let app: INestApplicationContext;
let bull: IORedis;
let producer: ItemEmbeddingQueue;

const TITLES = ['Toy Story (1995)', 'Heat (1995)', 'Amélie "Le Fabuleux" \\ 日本', 'GoldenEye (1995)'];

/** A movie snapshot as ingest normalises it and stores it in ml_movies (every column). */
function movie(movie_id: string, ts_ms: number, title: string, genres: string[] = []): NormalisedRecord {
  return { movie_id, ts_ms, title, year: 1995, genres };
}

async function store(records: readonly NormalisedRecord[]): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  await ch.insert(
    'ml_movies',
    records.map((r) => ({
      ...r,
      updated_at: Math.floor(Number(r.ts_ms) / 1000),
      schema_version: 1,
      ingested_at: now,
    })),
  );
}

async function vectors(keys: string[]) {
  const rows = await ch.query<{ entity_key: string; content_hash: string; vec: number[]; n: string }>(
    `SELECT entity_key, content_hash, argMax(vec, created_ms) AS vec, count() AS n
     FROM entity_embeddings FINAL
     WHERE embedding = 'title' AND entity_key IN {keys:Array(String)}
     GROUP BY entity_key, content_hash`,
    { keys },
  );
  // ClickHouse prints Float32 as the shortest decimal: back to float32, as Redis holds them.
  const byKey = new Map(rows.map((r) => [r.entity_key, { ...r, vec: r.vec.map(Math.fround) }]));
  // One (key, hash) per key: the newest content only.
  expect(byKey.size).toBe(rows.length);
  return byKey;
}

async function redisEntry(key: string) {
  const k = entityVectorKey(env.REDIS_KEY_PREFIX, 'title', key);
  const [v, meta] = await Promise.all([bull.hgetBuffer(k, 'v'), bull.hmget(k, 'content_hash', 'ts_ms')]);
  return {
    v: v ? Array.from(new Float32Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength))) : null,
    content_hash: meta[0],
    ts_ms: Number(meta[1]),
  };
}

beforeAll(async () => {
  Object.assign(process.env, env);
  const c = loadConfig();
  admin = new ClickHouseService({
    url: c.CLICKHOUSE_URL,
    username: c.CLICKHOUSE_USER,
    password: c.CLICKHOUSE_PASSWORD,
  });
  await admin.command(`CREATE DATABASE IF NOT EXISTS ${database}`);
  await new MigrationRunner(admin, database, loadMigrations(MIGRATIONS_DIR)).migrate();
  const applied = await applyRepository(new FeatureStoreRepository(admin, database), repo);
  if (applied.status === 'refused') throw new Error(applied.reasons.join('; '));
  ch = clickHouseFromConfig(c);
  bull = bullConnection();
  producer = new ItemEmbeddingQueue(bull, { name: env.EMBEDDINGS_QUEUE });
  app = await NestFactory.createApplicationContext(WorkerAndBackfill, { logger: false });
  await app.init();
});

afterAll(async () => {
  await app?.close();
  await producer?.queue.obliterate({ force: true }).catch(() => undefined);
  await producer?.close();
  const keys = (await bull?.keys(`${env.REDIS_KEY_PREFIX}*`)) ?? [];
  if (keys.length > 0) await bull.del(...keys);
  bull?.disconnect();
  await ch?.close();
  await admin?.command(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
  await admin?.close();
});

describe('embed --entity (real ClickHouse, Redis and text encoder)', () => {
  it('embeds snapshots stored without jobs exactly as the worker embeds their jobs; a second run skips them', async () => {
    const spec = embeddingJobs(repo).specs.find((s) => s.name === 'title')!;
    // The worker path: what ingest does for w-keys (jobs enqueued, snapshots stored).
    const viaWorker = TITLES.map((t, i) => movie(`w${i}`, 5_000, t, ['Comedy']));
    await producer.enqueueEntities(entityEmbeddingJobs([spec], viaWorker));
    await store(viaWorker);
    const counts = await waitForJobs(producer.queue, viaWorker.length, 120_000);
    expect(counts.failed ?? 0).toBe(0);

    // b-keys: the same titles stored with no job, b0 with an older version first.
    const newest = TITLES.map((t, i) => movie(`b${i}`, 2_000 + i, t));
    await store([movie('b0', 1_000, 'An older title'), ...newest]);
    const expectedJobs: EntityEmbeddingJob[] = entityEmbeddingJobs([spec], newest);

    const backfill = app.get(EntityBackfillService);
    const first = await backfill.embed('title', { concurrency: 3 });
    expect(first).toEqual({
      embedding: 'title',
      entity: 'movie',
      table: 'ml_movies',
      total: 2 * TITLES.length,
      skipped: TITLES.length, // the worker's
      stored: TITLES.length,
      stale: 0,
      failures: [],
    });

    const wKeys = viaWorker.map((r) => String(r.movie_id));
    const bKeys = newest.map((r) => String(r.movie_id));
    const stored = await vectors([...wKeys, ...bKeys]);
    expect(stored.size).toBe(2 * TITLES.length); // one (key, hash) each: b0's older title is not embedded
    for (const [i, job] of expectedJobs.entries()) {
      const b = stored.get(job.key)!;
      const w = stored.get(`w${i}`)!;
      expect(b.content_hash).toBe(job.content_hash);
      expect(w.content_hash).toBe(job.content_hash);
      expect(b.vec).toHaveLength(384);
      expect(b.vec).toEqual(w.vec);
      const [rb, rw] = await Promise.all([redisEntry(job.key), redisEntry(`w${i}`)]);
      expect(rb).toMatchObject({ content_hash: job.content_hash, ts_ms: job.ts_ms });
      expect(rb.v).toEqual(b.vec);
      expect(rb.v).toEqual(rw.v);
    }

    // Again through the CLI: everything is embedded already.
    const { stdout } = await execFileP(join(REPO_ROOT, 'bin', 'mmctr'), ['embed', '--entity', 'title'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
    });
    const summary = stdout.split('\n').find((l) => l.includes('"skipped"'));
    expect(JSON.parse(summary!)).toEqual({
      embedding: 'title',
      entity: 'movie',
      table: 'ml_movies',
      total: 2 * TITLES.length,
      skipped: 2 * TITLES.length,
      stored: 0,
      stale: 0,
      failed: 0,
      failures_by_reason: {},
      first_failures: [],
    });

    // --force, in pages of 3 keys (the keyset paging on the real table).
    const paged = new EntityBackfillService(
      repo,
      app.get(EntityEmbeddings),
      app.get(EntitySnapshotRepository),
      app.get(EntityEmbeddingRepository),
      app.get(EntityEmbeddingService),
      app.get<ModelSet>(MODEL_SET).text.id,
      { pageSize: 3 },
    );
    const forced = await paged.embed('title', { concurrency: 3, force: true });
    expect(forced).toMatchObject({
      total: 2 * TITLES.length,
      skipped: 0,
      stored: 2 * TITLES.length,
      failures: [],
    });
    // Rewritten rows share their keys: still one vector per (key, content hash).
    expect((await vectors(bKeys)).size).toBe(TITLES.length);
  });
});
