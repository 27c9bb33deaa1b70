// Embedding throughput: the BullMQ pipeline (apps/embedder, real Redis + ClickHouse) against a plain
// loop running the same ONNX models over the same inputs with no queue, measured in the same run.
//   node -r ./scripts/register.js bench/embed/run.ts [--items 400] [--batch 16] [--rounds 5]
// Needs the local stack (deploy/local/up) and the models (scripts/setup-models.sh).
import 'reflect-metadata';
// The local stack's endpoints unless the environment already points elsewhere (as the tests do).
import '../../test/setup/load-stack-env.js';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import type { CatalogueItem } from '@mmctr/contracts';
import { ItemEmbeddingQueue } from '@mmctr/online-store';
import { servicesCpu, servicesSince, totalCpu } from '../support/cpu';
import { generate, SMALL_PRESET } from '@mmctr/synth';
import {
  AppModule,
  EmbedderMetrics,
  Encoders,
  ImageLoader,
  itemText,
  PIXELS_PER_IMAGE,
  readModelSet,
  toEncoderPixels,
} from '../../apps/embedder/src';
import {
  bullConnection,
  features,
  readJsonl,
  REPO_ROOT,
  runEnv,
} from '../../apps/embedder/src/testing/harness';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** Wall seconds of a window, and its CPU seconds: this process (all threads, inference included) and the services. */
interface Timing {
  seconds: number;
  cpu: { self: number; services: number };
}

async function timed(fn: () => Promise<void>): Promise<Timing> {
  const t = performance.now();
  const self0 = process.cpuUsage();
  const services0 = servicesCpu();
  await fn();
  const self = process.cpuUsage(self0);
  return {
    seconds: (performance.now() - t) / 1000,
    cpu: { self: (self.user + self.system) / 1e6, services: totalCpu(servicesSince(services0)) },
  };
}

interface PlainLoop {
  images: (items: CatalogueItem[]) => Promise<Timing>;
  texts: (items: CatalogueItem[]) => Promise<Timing>;
  release: () => Promise<void>;
}

/** The limit: the same encoders over the same inputs, batch after batch, no queue, no storage. */
async function plainLoop(batch: number): Promise<PlainLoop> {
  const models = readModelSet(join(REPO_ROOT, '.cache', 'models'));
  const encoders = await Encoders.load(models, 2);
  const loader = new ImageLoader({
    allowedHosts: [],
    allowPrivate: false,
    allowFiles: true,
    fileRoots: [],
    maxBytes: 10 * 1024 * 1024,
    timeoutMs: 5_000,
    maxRedirects: 0,
  });
  // Warm-up outside the timings, as the app's threads are warm by the time jobs arrive.
  await encoders.encodeTexts(['warm up']);
  await encoders.encodeImages(new Uint8Array(PIXELS_PER_IMAGE), 1);
  return {
    images: (items) =>
      timed(async () => {
        for (let i = 0; i < items.length; i += batch) {
          const part = items.slice(i, i + batch);
          const pixels = await Promise.all(
            part.map(async (it) => toEncoderPixels((await loader.load(it.image!)).bytes, 40_000_000)),
          );
          const buf = new Uint8Array(pixels.length * PIXELS_PER_IMAGE);
          pixels.forEach((p, j) => buf.set(p, j * PIXELS_PER_IMAGE));
          await encoders.encodeImages(buf, pixels.length);
        }
      }),
    texts: (items) =>
      timed(async () => {
        for (let i = 0; i < items.length; i += batch)
          await encoders.encodeTexts(items.slice(i, i + batch).map((it) => itemText(it)));
      }),
    release: () => encoders.release(),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const n = arg('items', 400);
  const batch = arg('batch', 16);
  // Plain and queue alternate, round after round: drifting load from other processes on this shared
  // machine then hits both sides alike; the median ratio is reported.
  const rounds = arg('rounds', 5);
  const root = mkdtempSync(join(tmpdir(), 'mmctr-bench-embed-'));
  await generate({ ...SMALL_PRESET, items: { count: n } }, { outDir: join(root, 'synth') });
  const items = readJsonl<CatalogueItem>(join(root, 'synth', 'items.jsonl'));

  const run = `bench${Date.now().toString(36)}`;
  const env = runEnv(run, join(root, 'projections'));
  Object.assign(process.env, env, { EMBEDDER_BATCH_MAX: String(batch) });

  const plain = await plainLoop(batch);
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  await app.init();
  const bull = bullConnection();
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
    const jobs = features(items.map((i) => map({ ...i, item_id: `${run}-${suffix}-${i.item_id}` })));
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
  const SIDES = ['plainImg', 'queueImg', 'plainTxt', 'queueTxt'] as const;
  type Side = (typeof SIDES)[number];
  const per: Record<Side, number>[] = [];
  // CPU milliseconds per item, (this process, services), per round: where the queue's extra time goes.
  const cpu = Object.fromEntries(SIDES.map((k) => [k, [] as Timing['cpu'][]])) as Record<
    Side,
    Timing['cpu'][]
  >;
  for (let r = 0; r < rounds; r++) {
    // Awaited one after the other, in this order: plain and queue alternate.
    const t: Record<Side, Timing> = {
      plainImg: await plain.images(items),
      queueImg: await queued(`img${r}`, imageOnly),
      plainTxt: await plain.texts(items),
      queueTxt: await queued(`txt${r}`, textOnly),
    };
    for (const k of SIDES)
      cpu[k].push({ self: (t[k].cpu.self * 1000) / n, services: (t[k].cpu.services * 1000) / n });
    const { plainImg, queueImg, plainTxt, queueTxt } = Object.fromEntries(
      SIDES.map((k) => [k, t[k].seconds]),
    ) as Record<Side, number>;
    per.push({ plainImg, queueImg, plainTxt, queueTxt });
    console.log(
      `round ${r + 1}: images ${(n / plainImg).toFixed(1)} vs ${(n / queueImg).toFixed(1)}/s (${(plainImg / queueImg).toFixed(2)}), ` +
        `texts ${(n / plainTxt).toFixed(1)} vs ${(n / queueTxt).toFixed(1)}/s (${(plainTxt / queueTxt).toFixed(2)})`,
    );
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
  await plain.release();

  const rate = (k: keyof (typeof per)[number]) => median(per.map((p) => n / p[k]));
  const result = {
    items: n,
    batch,
    rounds,
    plain: { images_per_s: rate('plainImg'), texts_per_s: rate('plainTxt') },
    queue: { images_per_s: rate('queueImg'), texts_per_s: rate('queueTxt') },
    ratio: {
      images: median(per.map((p) => p.plainImg / p.queueImg)),
      texts: median(per.map((p) => p.plainTxt / p.queueTxt)),
    },
    per_round: per,
    cpu_ms_per_item: Object.fromEntries(
      Object.entries(cpu).map(([k, v]) => [
        k,
        { self: median(v.map((c) => c.self)), services: median(v.map((c) => c.services)) },
      ]),
    ),
    batches: sizes,
    at: new Date().toISOString(),
  };
  const f = (x: number) => x.toFixed(1).padStart(7);
  console.log(`items ${n}, batch ${batch}, medians of ${rounds} rounds`);
  console.log(`            plain loop   queue   ratio (target >= 0.8)`);
  console.log(
    `images/s  ${f(result.plain.images_per_s)}  ${f(result.queue.images_per_s)}   ${result.ratio.images.toFixed(2)}`,
  );
  console.log(
    `texts/s   ${f(result.plain.texts_per_s)}  ${f(result.queue.texts_per_s)}   ${result.ratio.texts.toFixed(2)}`,
  );
  console.log(`inference batches: ${JSON.stringify(sizes)}`);
  const c = result.cpu_ms_per_item as Record<string, { self: number; services: number }>;
  const cpuLine = (k: string) => `${c[k]!.self.toFixed(1)} + ${c[k]!.services.toFixed(1)}`;
  console.log(
    `CPU ms per item (this process incl. inference threads + Kafka/ClickHouse/Redis): ` +
      `images plain ${cpuLine('plainImg')}, queue ${cpuLine('queueImg')}; ` +
      `texts plain ${cpuLine('plainTxt')}, queue ${cpuLine('queueTxt')}`,
  );
  const out = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `embed-${Date.now()}.json`), JSON.stringify(result, null, 2) + '\n');
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
