import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type IORedis from 'ioredis';
import pino from 'pino';
import { clickHouseFromConfig, type ClickHouseService } from '@mmctr/clickhouse';
import { loadConfig } from '@mmctr/config';
import type { CatalogueItem } from '@mmctr/contracts';
import { ItemEmbeddingQueue } from '@mmctr/online-store';
import { generate, SMALL_PRESET } from '@mmctr/synth';
import { EmbedderCoreModule } from '../app.module';
import { EmbedderMetrics } from '../metrics/embedder-metrics';
import { BULL_REDIS } from '../tokens';
import { EmbeddingService } from './embedding.service';
import { EmbeddingQueueRepository } from './embedding-queue.repository';
import { EmbeddingWorker } from './embedding.worker';
import { bullConnection, features, readJsonl, REPO_ROOT, runEnv, waitForJobs } from '../testing/harness';
import { tempDir } from '../../../../test/support/temp-dir';

jest.setTimeout(300_000);

const run = `crash${Date.now().toString(36)}`;
const root = tempDir('embedder-crash');
const env = runEnv(run, join(root, 'projections'), root);
const config = () => loadConfig();

/**
 * A ClickHouse proxy that forwards everything, but after forwarding the first item_embeddings insert
 * (the row is stored) never answers it: the worker dies after its write and before completing the job.
 */
function insertTrap(target: URL, onInserted: () => void): http.Server {
  let trapped = false;
  return http.createServer((req, res) => {
    const query = new URL(req.url ?? '/', 'http://proxy').searchParams.get('query') ?? '';
    const isInsert = /INSERT INTO\s+`?item_embeddings`?/i.test(query);
    const up = http.request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (upRes) => {
        if (isInsert && !trapped && upRes.statusCode === 200) {
          trapped = true;
          upRes.resume();
          upRes.on('end', onInserted);
          return; // the client never hears back
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
}

describe('a worker killed mid-job', () => {
  let ch: ClickHouseService;
  let bull: IORedis;
  let producer: ItemEmbeddingQueue;
  let child: ChildProcess | undefined;
  let proxy: http.Server | undefined;
  let app: INestApplicationContext | undefined;
  let rescuer: EmbeddingWorker | undefined;

  beforeAll(async () => {
    ch = clickHouseFromConfig(config());
    bull = bullConnection();
    producer = new ItemEmbeddingQueue(bull, { name: env.EMBEDDINGS_QUEUE });
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await rescuer?.close();
    await app?.close();
    proxy?.closeAllConnections();
    proxy?.close();
    await producer.queue.obliterate({ force: true }).catch(() => undefined);
    await producer.close();
    bull.disconnect();
    await ch.close();
  });

  it('has its job retried by another worker, with no duplicate in the de-duplicated view', async () => {
    await generate({ ...SMALL_PRESET, items: { count: 30 } }, { outDir: join(root, 'synth') });
    const synth = readJsonl<CatalogueItem>(join(root, 'synth', 'items.jsonl'));
    const item = { ...synth[0]!, item_id: `${run}-victim` };

    let inserted!: () => void;
    const insertedP = new Promise<void>((r) => (inserted = r));
    proxy = insertTrap(new URL(config().CLICKHOUSE_URL), () => inserted());
    await new Promise<void>((r) => proxy!.listen(0, '127.0.0.1', r));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

    // The first worker: the real app in its own process, writing through the trap.
    const shortLocks = { EMBEDDER_LOCK_DURATION_MS: '2000', EMBEDDER_STALLED_INTERVAL_MS: '1000' };
    child = spawn(process.execPath, ['-r', './scripts/register.js', 'apps/embedder/src/main.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env, ...shortLocks, CLICKHOUSE_URL: proxyUrl, HTTP_PORT: '0' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await producer.enqueue(features([item]));
    // The row is in ClickHouse, the job is still active.
    let guard: NodeJS.Timeout | undefined;
    await Promise.race([
      insertedP,
      new Promise(
        (_, reject) =>
          (guard = setTimeout(() => reject(new Error('the first worker never inserted')), 90_000)),
      ),
    ]).finally(() => clearTimeout(guard));
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    const [job] = await producer.queue.getJobs(['active']);
    expect(job?.data.item_id).toBe(item.item_id);

    // A second worker (this process) finds the stalled job once its lock expires and redoes it.
    Object.assign(process.env, env, shortLocks);
    app = await NestFactory.createApplicationContext(EmbedderCoreModule, { logger: false });
    const queue = new EmbeddingQueueRepository(app.get(BULL_REDIS), {
      queue: env.EMBEDDINGS_QUEUE,
      prefix: config().BULLMQ_PREFIX,
      concurrency: 1,
      lockDurationMs: 2_000,
      stalledIntervalMs: 1_000,
    });
    rescuer = new EmbeddingWorker(
      app.get(EmbeddingService),
      queue,
      app.get(EmbedderMetrics),
      pino({ level: 'silent' }),
      { shutdownGraceMs: 5_000 },
    );
    rescuer.start();
    const counts = await waitForJobs(producer.queue, 1, 60_000);
    expect(counts.completed).toBe(1);

    const q = (sql: string) =>
      ch.query<{ n: string }>(sql, { id: item.item_id }).then((r) => Number(r[0]!.n));
    const raw = await q('SELECT count() AS n FROM item_embeddings WHERE item_id = {id:String}');
    const latest = await q('SELECT count() AS n FROM item_embeddings_latest WHERE item_id = {id:String}');
    const final = await q('SELECT count() AS n FROM item_embeddings FINAL WHERE item_id = {id:String}');
    console.log(`rows for the item: raw ${raw}, FINAL ${final}, latest view ${latest}`);
    expect(raw).toBeGreaterThanOrEqual(1); // both attempts wrote (unless a merge already folded them)
    expect(latest).toBe(1);
    expect(final).toBe(1);
  });
});
