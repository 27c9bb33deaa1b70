// Embedding throughput: the BullMQ pipeline (apps/embedder, real Redis + ClickHouse) against a plain
// loop running the same ONNX models over the same inputs with no queue, measured in the same run.
//   node -r ./scripts/register.js bench/embed/run.ts [--items 1000] [--batch 16] [--rounds 5]
// Needs the local stack (deploy/local/up) and the models (scripts/setup-models.sh).
import 'reflect-metadata';
// The local stack's endpoints unless the environment already points elsewhere (as the tests do).
import '../../test/setup/load-stack-env.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { NestFactory } from '@nestjs/core';
import { clickHouseClient, loadMigrations, MigrationRunner, MIGRATIONS_DIR } from '@mmctr/clickhouse';
import { loadConfig } from '@mmctr/config';
import { startWorkerThread } from '@mmctr/observability';
import type { CatalogueItem } from '@mmctr/contracts';
import { createBullRedis, ItemEmbeddingQueue, itemFeatures } from '@mmctr/online-store';
import { servicesCpu, servicesSince } from '../support/cpu';
import { generate, readJsonl, SMALL_PRESET } from '@mmctr/synth';
import {
  AppModule,
  EmbedderMetrics,
  embedderTesting,
  itemText,
  loadEmbedderConfig,
  readModelSet,
} from '@mmctr/embedder';
import type { PlainThreadInit, PlainThreadRequest } from './plain-thread';
import { REPO_ROOT } from '../support/repo';
import { numberArg } from '../support/cli-args';

/** Wall seconds of a window, and its CPU seconds: this process (all threads, inference included) and the services. */
interface Timing {
  seconds: number;
  cpu: { self: number; redis: number; clickhouse: number };
}

async function timed(fn: () => Promise<void>): Promise<Timing> {
  const t = performance.now();
  const self0 = process.cpuUsage();
  const services0 = servicesCpu();
  await fn();
  const self = process.cpuUsage(self0);
  const services = servicesSince(services0);
  return {
    seconds: (performance.now() - t) / 1000,
    cpu: { self: (self.user + self.system) / 1e6, redis: services.redis, clickhouse: services.clickhouse },
  };
}

interface PlainLoop {
  layout: string;
  images: (items: CatalogueItem[]) => Promise<Timing>;
  texts: (items: CatalogueItem[]) => Promise<Timing>;
  release: () => Promise<void>;
}

/** Session layouts the plain loop is measured in: `sessions` threads at once, each its own session. */
const LAYOUTS = [
  { sessions: 1, ortThreads: 2 },
  { sessions: 2, ortThreads: 1 },
] as const;

function spawnPlainThread(init: PlainThreadInit): Promise<Worker> {
  const worker = startWorkerThread(__dirname, 'plain-thread', init);
  return new Promise((resolve, reject) => {
    worker.once('message', () => resolve(worker));
    worker.once('error', reject);
  });
}

/**
 * The limit: the same encoders over the same inputs, batch after batch, no queue, no storage.
 * `sessions` threads each run one session and take the next batch as they finish one, so 2 x 1 is
 * the plain-loop twin of the service's two inference threads of one onnxruntime thread each.
 */
async function plainLoop(
  batch: number,
  sessions: number,
  ortThreads: number,
  imageRoot: string,
): Promise<PlainLoop> {
  const models = readModelSet(join(REPO_ROOT, '.cache', 'models'));
  const threads = await Promise.all(
    Array.from({ length: sessions }, () => spawnPlainThread({ models, ortThreads, imageRoot })),
  );
  const loops = (kind: PlainThreadRequest['kind'], inputs: string[]) =>
    timed(async () => {
      let next = 0;
      await Promise.all(
        threads.map(async (thread) => {
          for (let i = next; i < inputs.length; i = next) {
            next += batch;
            await new Promise<void>((resolve, reject) => {
              thread.once('message', (reply: number | { error: string }) =>
                typeof reply === 'number' ? resolve() : reject(new Error(reply.error)),
              );
              thread.postMessage({
                index: i,
                kind,
                inputs: inputs.slice(i, i + batch),
              } satisfies PlainThreadRequest);
            });
          }
        }),
      );
    });
  return {
    layout: `${sessions}x${ortThreads}`,
    images: (items) =>
      loops(
        'images',
        items.map((it) => it.image!),
      ),
    texts: (items) =>
      loops(
        'texts',
        items.map((it) => itemText(it)),
      ),
    release: async () => {
      await Promise.all(
        threads.map(async (t) => {
          const released = new Promise((r) => t.once('message', r));
          t.postMessage('release');
          await released;
          await t.terminate();
        }),
      );
    },
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Seconds of the fastest plain-loop layout in one round's timings. */
const bestPlain = (s: Record<string, number>) =>
  Math.min(
    ...Object.entries(s)
      .filter(([k]) => k.startsWith('plain'))
      .map(([, v]) => v),
  );

async function main(): Promise<void> {
  const n = numberArg('items', 1000);
  const batch = numberArg('batch', 16);
  // Plain and queue alternate, round after round: drifting load from other processes on this shared
  // machine then hits both sides alike; the median ratio is reported.
  const rounds = numberArg('rounds', 5);
  const root = mkdtempSync(join(tmpdir(), 'mmctr-bench-embed-'));
  await generate({ ...SMALL_PRESET, items: { count: n } }, { outDir: join(root, 'synth') });
  const items = readJsonl<CatalogueItem>(join(root, 'synth', 'items.jsonl'));

  const run = `bench${Date.now().toString(36)}`;
  const env = embedderTesting.runEnv(run, join(root, 'projections'), root);
  // A fresh database each run: the cost of ClickHouse's merges grows with the table, and earlier runs'
  // rows would make one run's figures depend on how many ran before it.
  const database = 'mmctr_bench_embed';
  Object.assign(process.env, env, { EMBEDDER_BATCH_MAX: String(batch), CLICKHOUSE_DATABASE: database });
  const config = loadConfig();
  const admin = clickHouseClient(config);
  await admin.command(`DROP DATABASE IF EXISTS ${database}`);
  await new MigrationRunner(admin, database, loadMigrations(MIGRATIONS_DIR)).migrate();

  const plains: PlainLoop[] = [];
  for (const l of LAYOUTS) plains.push(await plainLoop(batch, l.sessions, l.ortThreads, root));
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  await app.init();
  const bull = createBullRedis(config);
  const producer = new ItemEmbeddingQueue(bull, { name: env.EMBEDDINGS_QUEUE });
  let done = 0;
  // Finished jobs by outcome, read from the worker's own in-process counter: polling the queue's
  // counts in Redis every few ms would itself cost the process CPU the worker needs.
  const metrics = app.get(EmbedderMetrics);
  const finished = async () => {
    const values = (await metrics.items.get()).values;
    const total = values.reduce((s, v) => s + v.value, 0);
    const failed = values.filter((v) => v.labels.outcome === 'failed').reduce((s, v) => s + v.value, 0);
    return { total, failed };
  };
  const queued = async (suffix: string, map: (i: CatalogueItem) => CatalogueItem) => {
    const jobs = items.map((i) => itemFeatures(map({ ...i, item_id: `${run}-${suffix}-${i.item_id}` })));
    // Jobs are queued before the clock starts (the queue paused meanwhile), as ingestion would have
    // enqueued them: the timed window is the workers' throughput, not the producer's.
    await producer.queue.pause();
    await producer.enqueue(jobs);
    const timing = await timed(async () => {
      await producer.queue.resume();
      const deadline = Date.now() + 600_000;
      for (;;) {
        const f = await finished();
        if (f.failed) throw new Error(`${f.failed} jobs failed`);
        if (f.total >= done + jobs.length) break;
        if (Date.now() > deadline) throw new Error(`jobs not done: ${JSON.stringify(f)}`);
        await new Promise((r) => setTimeout(r, 2));
      }
    });
    done += jobs.length;
    return timing;
  };
  // Warm the pipeline first (thread start-up, first-batch allocations).
  await queued('warm', (i) => i);

  const imageOnly = (i: CatalogueItem) => ({ ...i, title: '', description: '', tags: [] });
  const textOnly = (i: CatalogueItem) => ({ ...i, image: '' });
  const service = loadEmbedderConfig(process.env);
  const serviceLayout = `${service.EMBEDDER_INFERENCE_THREADS}x${service.EMBEDDER_ORT_THREADS}`;
  const KINDS = ['images', 'texts'] as const;
  type Kind = (typeof KINDS)[number];
  // Per round and side ("plain 1x2", "queue", ...): wall seconds and CPU ms per item.
  const seconds: Record<Kind, Record<string, number>[]> = { images: [], texts: [] };
  const cpu: Record<Kind, Record<string, Timing['cpu']>[]> = { images: [], texts: [] };
  for (let r = 0; r < rounds; r++) {
    const line: string[] = [];
    for (const kind of KINDS) {
      // Awaited one after the other: the plain layouts and the queue alternate within the round.
      const t: Record<string, Timing> = {};
      for (const p of plains) t[`plain ${p.layout}`] = await p[kind](items);
      t.queue = await queued(`${kind}${r}`, kind === 'images' ? imageOnly : textOnly);
      seconds[kind].push(Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.seconds])));
      cpu[kind].push(
        Object.fromEntries(
          Object.entries(t).map(([k, v]) => [
            k,
            {
              self: (v.cpu.self * 1000) / n,
              redis: (v.cpu.redis * 1000) / n,
              clickhouse: (v.cpu.clickhouse * 1000) / n,
            },
          ]),
        ),
      );
      const s = seconds[kind][r]!;
      line.push(
        `${kind} ` +
          Object.entries(s)
            .map(([k, v]) => `${k} ${(n / v).toFixed(1)}/s`)
            .join(', ') +
          ` (${(bestPlain(s) / s.queue!).toFixed(2)})`,
      );
    }
    console.log(`round ${r + 1}: ${line.join('; ')}`);
  }
  const batches = await metrics.batchSize.get();
  const sizes = Object.fromEntries(
    batches.values
      .filter((v) => v.metricName?.endsWith('_sum') || v.metricName?.endsWith('_count'))
      .map((v) => [
        `${String(v.labels.encoder)}${v.metricName!.endsWith('_sum') ? '_items' : '_batches'}`,
        v.value,
      ]),
  );
  await producer.queue.obliterate({ force: true });
  await producer.close();
  bull.disconnect();
  await app.close();
  for (const p of plains) await p.release();
  rmSync(root, { recursive: true, force: true });

  const sides = Object.keys(seconds.images[0]!);
  const summary = Object.fromEntries(
    KINDS.map((kind) => [
      kind,
      {
        per_s: Object.fromEntries(sides.map((k) => [k, median(seconds[kind].map((s) => n / s[k]!))])),
        // The baseline of each round is its fastest plain layout: the limit, whichever layout it is.
        ratio: median(seconds[kind].map((s) => bestPlain(s) / s.queue!)),
        ratio_same_layout: median(seconds[kind].map((s) => s[`plain ${serviceLayout}`]! / s.queue!)),
        cpu_ms_per_item: Object.fromEntries(
          sides.map((k) => [
            k,
            {
              self: median(cpu[kind].map((c) => c[k]!.self)),
              redis: median(cpu[kind].map((c) => c[k]!.redis)),
              clickhouse: median(cpu[kind].map((c) => c[k]!.clickhouse)),
            },
          ]),
        ),
      },
    ]),
  ) as Record<
    Kind,
    {
      per_s: Record<string, number>;
      ratio: number;
      ratio_same_layout: number;
      cpu_ms_per_item: Record<string, Timing['cpu']>;
    }
  >;
  const result = {
    items: n,
    batch,
    rounds,
    service_layout: serviceLayout,
    ...summary,
    per_round: seconds,
    cpu_ms_per_item_per_round: cpu,
    batches: sizes,
    at: new Date().toISOString(),
  };
  const f = (x: number) => x.toFixed(1).padStart(11);
  console.log(
    `items ${n}, batch ${batch}, medians of ${rounds} rounds; layouts are sessions x onnxruntime threads, ` +
      `the service runs ${serviceLayout} (inference threads x intra-op threads)`,
  );
  console.log(
    `         ${sides.map((k) => k.padStart(11)).join('')}   ratio to best plain (target >= 0.8), same layout`,
  );
  for (const kind of KINDS)
    console.log(
      `${kind}/s`.padEnd(9) +
        sides.map((k) => f(summary[kind].per_s[k]!)).join('') +
        `   ${summary[kind].ratio.toFixed(2)}, ${summary[kind].ratio_same_layout.toFixed(2)}`,
    );
  console.log(`inference batches: ${JSON.stringify(sizes)}`);
  for (const kind of KINDS)
    console.log(
      `CPU ms per ${kind.slice(0, -1)} (this process incl. inference threads + Redis + ClickHouse): ` +
        sides
          .map((k) => {
            const c = summary[kind].cpu_ms_per_item[k]!;
            return `${k} ${c.self.toFixed(2)} + ${c.redis.toFixed(2)} + ${c.clickhouse.toFixed(2)}`;
          })
          .join(', '),
    );
  const out = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `embed-${Date.now()}.json`), JSON.stringify(result, null, 2) + '\n');
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
