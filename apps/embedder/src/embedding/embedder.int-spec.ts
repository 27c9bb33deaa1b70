import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Queue } from 'bullmq';
import type IORedis from 'ioredis';
import sharp from 'sharp';
import { ClickHouseService, clickHouseFromConfig } from '@mmctr/clickhouse';
import { loadConfig } from '@mmctr/config';
import type { CatalogueItem } from '@mmctr/contracts';
import {
  createRedis,
  ItemEmbeddingQueue,
  mmVectorKey,
  OnlineStore,
  type ItemEmbeddingJob,
  deleteKeysMatching,
} from '@mmctr/online-store';
import { METRICS_REGISTRY, READINESS_PROBE, type ReadinessProbe } from '@mmctr/observability';
import { generate, SMALL_PRESET } from '@mmctr/synth';
import type { Registry } from 'prom-client';
import { AppModule } from '../app.module';
import { MmVectorRepository } from '../storage/mm-vector.repository';
import { BackfillService } from './backfill.service';
import {
  bullConnection,
  features,
  insertItems,
  precisionAtK,
  readJsonl,
  runEnv,
  waitForJobs,
} from '../testing/harness';
import { tempDir } from '../../../../test/support/temp-dir';

jest.setTimeout(600_000);

const run = `emb${Date.now().toString(36)}`;
const root = tempDir('embedder');
const env = runEnv(run, join(root, 'projections'), root);

let app: INestApplicationContext;
let ch: ClickHouseService;
let bull: IORedis;
let producer: ItemEmbeddingQueue;
let queue: Queue<ItemEmbeddingJob>;
let catalogue: CatalogueItem[];
let topics: number[];

beforeAll(async () => {
  Object.assign(process.env, env, { EMBEDDER_IMAGE_ALLOWED_HOSTS: '127.0.0.1,images.example.com' });
  await generate(SMALL_PRESET, { outDir: join(root, 'synth') });
  const latent = new Map(
    readJsonl<{ item_id: string; topic: number }>(join(root, 'synth', 'latent_items.jsonl')).map((r) => [
      r.item_id,
      r.topic,
    ]),
  );
  // Run-specific ids: the stack is shared between runs and helpers.
  const synth = readJsonl<CatalogueItem>(join(root, 'synth', 'items.jsonl'));
  catalogue = synth.map((i) => ({ ...i, item_id: `${run}-${i.item_id}` }));
  topics = synth.map((i) => latent.get(i.item_id)!);
  ch = clickHouseFromConfig(loadConfig());
  bull = bullConnection();
  producer = new ItemEmbeddingQueue(bull, { name: env.EMBEDDINGS_QUEUE });
  queue = producer.queue;
  app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  await app.init();
});

afterAll(async () => {
  await app?.close();
  await queue?.obliterate({ force: true }).catch(() => undefined);
  await producer?.close();
  if (bull) await deleteKeysMatching(bull, `${env.REDIS_KEY_PREFIX}*`);
  bull?.disconnect();
  await ch?.close();
});

async function embeddings(ids: string[], projection: string) {
  return ch.query<{ item_id: string; image_vec: number[]; text_vec: number[]; fused_vec: number[] }>(
    `SELECT item_id, image_vec, text_vec, fused_vec FROM item_embeddings_latest
     WHERE item_id IN {ids:Array(String)} AND projection_version = {p:String} ORDER BY item_id`,
    { ids, p: projection },
  );
}

describe('embedder (real Redis, ClickHouse and encoders)', () => {
  it('makes real embeddings: 10 nearest neighbours share the topic (precision@10 >= 0.8)', async () => {
    await producer.enqueue(features(catalogue));
    const counts = await waitForJobs(queue, catalogue.length, 540_000);
    expect(counts.failed).toBe(0);

    const ids = catalogue.map((i) => i.item_id);
    const rows = await embeddings(ids, '');
    expect(rows).toHaveLength(catalogue.length);
    const byId = new Map(rows.map((r) => [r.item_id, r]));
    const image = ids.map((id) => byId.get(id)!.image_vec);
    const text = ids.map((id) => byId.get(id)!.text_vec);
    expect(image.every((v) => v.length === 1280)).toBe(true);
    expect(text.every((v) => v.length === 384)).toBe(true);

    const pImage = precisionAtK(image, topics, 10);
    const pText = precisionAtK(text, topics, 10);
    // Chance level: the share of same-topic pairs (~1/20 here).
    const chance = precisionAtK(
      ids.map((_, i) =>
        Float64Array.from({ length: 16 }, (_, j) => (Math.sin((i + 1) * (j + 7) * 12.9898) * 43758.5453) % 1),
      ),
      topics,
      10,
    );
    console.log(
      `precision@10 image ${pImage.toFixed(3)} text ${pText.toFixed(3)} hash-vectors ${chance.toFixed(3)}`,
    );
    expect(pImage).toBeGreaterThanOrEqual(0.8);
    expect(pText).toBeGreaterThanOrEqual(0.8);
    expect(chance).toBeLessThan(0.3);

    // The first projection: fitted on these vectors, fused vectors written for every item.
    await insertItems(ch, catalogue);
    const refit = await app.get(BackfillService).refit({ itemIds: ids });
    expect(refit.items).toBe(catalogue.length);
    expect(refit.dim).toBe(128);
    const fusedRows = await embeddings(ids, refit.version);
    expect(fusedRows).toHaveLength(catalogue.length);
    const fusedById = new Map(fusedRows.map((r) => [r.item_id, r.fused_vec]));
    const pFused = precisionAtK(
      ids.map((id) => fusedById.get(id)!),
      topics,
      10,
    );
    console.log(`precision@10 fused ${pFused.toFixed(3)} (${refit.version}, ${refit.seconds.toFixed(1)} s)`);
    expect(pFused).toBeGreaterThanOrEqual(0.8);
  });

  it('carries an item event end to end: online store -> queue -> ClickHouse and Redis', async () => {
    const redis = createRedis(loadConfig());
    try {
      const store = new OnlineStore(redis, {
        keyPrefix: env.REDIS_KEY_PREFIX,
        types: ['click'],
        cap: 10,
        historyTtlS: 60,
      });
      const item: CatalogueItem = { ...catalogue[0]!, item_id: `${run}-fresh`, title: 'Fresh arrival' };
      await store.upsertItems([item], (changed) => producer.enqueue(changed));
      const projection = await readCurrentVersion();
      const until = Date.now() + 60_000;
      let rows: Awaited<ReturnType<typeof embeddings>> = [];
      while (rows.length === 0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 250));
        rows = await embeddings([item.item_id], projection);
      }
      expect(rows).toHaveLength(1);
      const row = rows[0]!;
      expect([row.image_vec.length, row.text_vec.length, row.fused_vec.length]).toEqual([1280, 384, 128]);
      const mm = await new MmVectorRepository(redis, env.REDIS_KEY_PREFIX).read(item.item_id);
      expect(mm?.projection).toBe(projection);
      expect(Array.from(mm!.vector!)).toEqual(row.fused_vec.map((x) => Math.fround(x)));
      expect(await redis.exists(mmVectorKey(env.REDIS_KEY_PREFIX, item.item_id))).toBe(1);
    } finally {
      redis.disconnect();
    }
  });

  it('fails broken and blocked images at once with their reason while the others complete', async () => {
    const dir = join(root, 'bad');
    mkdirSync(dir, { recursive: true });
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#336699' } })
      .png()
      .toBuffer();
    writeFileSync(join(dir, 'truncated.png'), png.subarray(0, 50));
    writeFileSync(join(dir, 'page.png'), '<html>not an image</html>');
    execFileSync('mkfifo', [join(dir, 'fifo.png')]); // no writer: a blocking read would never return
    const base = catalogue[1]!;
    const make = (suffix: string, image: string): CatalogueItem => ({
      ...base,
      item_id: `${run}-${suffix}`,
      image,
    });
    const good = [make('good-a', catalogue[2]!.image!), make('good-b', catalogue[3]!.image!)];
    const bad: [CatalogueItem, string][] = [
      [make('loopback', 'http://127.0.0.1:9/x.png'), 'image_blocked'],
      [make('metadata', 'http://169.254.169.254/latest/meta-data'), 'image_blocked'],
      [make('scheme', 'gopher://images.example.com/x'), 'image_blocked'],
      [make('missing', join(dir, 'missing.png')), 'image_not_found'],
      [make('truncated', join(dir, 'truncated.png')), 'image_undecodable'],
      [make('html', join(dir, 'page.png')), 'image_unsupported_type'],
      [make('fifo', join(dir, 'fifo.png')), 'image_blocked'],
      [make('outside', '/etc/passwd'), 'image_blocked'],
    ];
    const before = await queue.getJobCounts('completed', 'failed');
    await producer.enqueue(features([...good, ...bad.map(([i]) => i)]));
    await waitForJobs(
      queue,
      (before.completed ?? 0) + (before.failed ?? 0) + good.length + bad.length,
      120_000,
    );

    for (const [item, reason] of bad) {
      const jobs = await queue.getJobs(['failed']);
      const job = jobs.find((j) => j.data.item_id === item.item_id);
      expect(job?.failedReason).toMatch(new RegExp(`^${reason}: `));
      expect(job?.attemptsMade).toBe(1); // not retried: permanent
    }
    const stored = await ch.query<{ item_id: string }>(
      `SELECT item_id FROM item_embeddings_latest WHERE item_id IN {ids:Array(String)} ORDER BY item_id`,
      { ids: [...good, ...bad.map(([i]) => i)].map((i) => i.item_id) },
    );
    expect(stored.map((r) => r.item_id)).toEqual(good.map((g) => g.item_id).sort());
  });

  it("is ready through the repositories' pings and the running worker, and counts the jobs in its metrics", async () => {
    const ready = await app.get<ReadinessProbe>(READINESS_PROBE)();
    expect(ready).toMatchObject({
      ready: true,
      body: { status: 'ok', checks: { clickhouse: { ok: true }, redis: { ok: true }, worker: { ok: true } } },
    });
    const metrics = await app.get<Registry>(METRICS_REGISTRY).metrics();
    expect(metrics).toMatch(/^mmctr_embedder_items_total\{outcome="stored"\} [1-9]/m);
    expect(metrics).toMatch(/^mmctr_embedder_failures_total\{reason="image_blocked",final="true"\} [1-9]/m);
    expect(metrics).toMatch(/^mmctr_embedder_queue_jobs\{state="failed"\} [1-9]/m);
  });
});

async function readCurrentVersion(): Promise<string> {
  await Promise.resolve();
  return readFileSync(join(env.EMBEDDER_PROJECTIONS_DIR, 'current'), 'utf8').trim();
}
