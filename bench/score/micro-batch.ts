// Micro-batching on this machine: R concurrent requests of B candidates each (one user per request,
// L = 64 full histories, D = 128), scored as R runs of the serving graph (micro-batching off) against
// one run of the batch graph (on), through the scorer's own OnnxModel, alternating in one process.
//
// With --http: two scorers on the same model, micro-batching off and on (SCORER_MICRO_BATCH, window
// --window ms), under autocannon at --connections, runs alternating between them (needs the stack).
//
// Usage: node -r ./scripts/register.js bench/score/micro-batch.ts [--models qin-demo,autoint-demo]
//        [--requests 2,8] [--candidates 500] [--rounds 40] [--threads 2]
//        [--http --connections 8 --window 0 --duration 4 --http-rounds 4]
import { performance } from 'node:perf_hooks';
import { arg, numberArg } from '../support/cli-args';
import { percentile } from '@mmctr/observability';
import { DEFAULT_FEATURE_REPO_PATH, loadFeatureRepo, type ModelLayout } from '@mmctr/feature-repo';
import { InputBuffers, OnnxModel, ServingLayout, type SessionSettings } from '@mmctr/scorer';
import { resolveModel } from './lib/models';
import { syntheticInputs } from './lib/synthetic-inputs';
import { ensureBenchTopic, http, seed, startScorer } from './lib/scorer-process';

const MODELS = arg('models', 'qin-demo,autoint-demo').split(',');
const REQUESTS = arg('requests', '2,8').split(',').map(Number);
const B = numberArg('candidates', 500);
const ROUNDS = numberArg('rounds', 40);
const THREADS = numberArg('threads', 2);
const HTTP = process.argv.includes('--http');
const CONNECTIONS = numberArg('connections', 8);
const WINDOW = arg('window', '0');
const HTTP_ROUNDS = numberArg('http-rounds', 4);

/** Synthetic ids and values: every request gets its own user and candidates. */
function fill(buffers: InputBuffers, layout: ModelLayout, seed: number): void {
  syntheticInputs(layout, B, seed).forEach((input, k) => {
    const data = buffers.data[k]!;
    if (data instanceof Float32Array) data.set(input.data as Float32Array);
    else data.data.set(input.data as BigInt64Array);
  });
}

/** Alternating autocannon runs against a scorer without and one with micro-batching. */
async function throughHttp(): Promise<void> {
  const topic = await ensureBenchTopic();
  const { body, prefix } = await seed('mb');
  console.log(
    `micro-batching through HTTP: ${CONNECTIONS} connections, window ${WINDOW} ms, ${HTTP_ROUNDS} alternating rounds per model`,
  );
  for (const name of MODELS) {
    const dir = resolveModel(name);
    const off = await startScorer(dir, prefix, topic, { SCORER_MICRO_BATCH: 'false' });
    const on = await startScorer(dir, prefix, topic, {
      SCORER_MICRO_BATCH: 'true',
      SCORER_MICRO_BATCH_WINDOW_MS: WINDOW,
    });
    try {
      const runs = {
        off: [] as Awaited<ReturnType<typeof http>>[],
        on: [] as Awaited<ReturnType<typeof http>>[],
      };
      await http(off.url, body, CONNECTIONS); // warm both
      await http(on.url, body, CONNECTIONS);
      for (let i = 0; i < HTTP_ROUNDS; i++) {
        runs.off.push(await http(off.url, body, CONNECTIONS));
        runs.on.push(await http(on.url, body, CONNECTIONS));
      }
      const median = (v: number[]) =>
        percentile(
          [...v].sort((a, b) => a - b),
          50,
        );
      const row = (k: 'off' | 'on') => ({
        rps: median(runs[k].map((r) => r.rps)),
        p50: median(runs[k].map((r) => r.p50)),
        p99: median(runs[k].map((r) => r.p99)),
        failed: runs[k].reduce((a, r) => a + r.non2xx + r.errors, 0),
      });
      const [a, b] = [row('off'), row('on')];
      const sizes = await (await fetch(`${on.url}/metrics`)).text();
      const read = (k: string) =>
        Number(new RegExp(`^mmctr_scorer_micro_batch_requests_${k} (\\S+)$`, 'm').exec(sizes)?.[1]);
      console.log(
        `${name.padEnd(14)} off: ${Math.round(a.rps * B)} cand/s, p50 ${a.p50} / p99 ${a.p99} ms; on: ${Math.round(b.rps * B)} cand/s, p50 ${b.p50} / p99 ${b.p99} ms; ` +
          `throughput on / off = ${(b.rps / a.rps).toFixed(2)} (per round: ${runs.on.map((r, i) => (r.rps / runs.off[i]!.rps).toFixed(2)).join(', ')}); ` +
          `requests per run ${(read('sum') / read('count')).toFixed(2)}; failed ${a.failed + b.failed}`,
      );
    } finally {
      off.child.kill('SIGTERM');
      on.child.kill('SIGTERM');
    }
  }
}

async function main(): Promise<void> {
  if (HTTP) return throughHttp();
  const settings: SessionSettings = {
    modelFile: 'model.onnx',
    intraOpThreads: THREADS,
    interOpThreads: 1,
    allowSpinning: false,
    provider: 'cpu',
  };
  console.log(
    `micro-batching: R requests x ${B} candidates, ${THREADS} intra-op threads, ${ROUNDS} rounds each, alternating`,
  );
  const layout = new ServingLayout(loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH));
  for (const name of MODELS) {
    const dir = resolveModel(name);
    for (const r of REQUESTS) {
      const capacity = B;
      const plain = await OnnxModel.load(`${name}-plain`, dir, capacity, settings, layout);
      // The batch runs as soon as all R requests are queued: no window wait in the figure.
      const batched = await OnnxModel.load(
        `${name}-batched`,
        dir,
        capacity,
        {
          ...settings,
          microBatch: { windowMs: 1000, maxCandidates: r * B },
        },
        layout,
      );
      if (!batched.microBatching) throw new Error(`${dir} has no batch graph`);
      const buffers = Array.from({ length: r }, (_, i) => {
        const b = plain.acquireBuffers();
        fill(b, layout.layout, i + 1);
        return b;
      });
      const round = async (m: OnnxModel) => {
        const t = performance.now();
        const out = await Promise.all(buffers.map((b) => m.run(b, B)));
        return { ms: performance.now() - t, out };
      };
      // Same CTRs both ways (a check, not a timing).
      const [a, b] = [await round(plain), await round(batched)];
      let worst = 0;
      a.out.forEach((o, i) => o.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - b.out[i]![k]!)))));
      const times = { plain: [] as number[], batched: [] as number[] };
      for (let i = 0; i < ROUNDS; i++) {
        times.plain.push((await round(plain)).ms);
        times.batched.push((await round(batched)).ms);
      }
      const p50 = (v: number[]) =>
        percentile(
          [...v].sort((x, y) => x - y),
          50,
        );
      const [pp, pb] = [p50(times.plain), p50(times.batched)];
      console.log(
        `${name.padEnd(14)} R=${String(r).padEnd(2)} ${r} runs ${pp.toFixed(2)} ms, one batched run ${pb.toFixed(2)} ms: ` +
          `batched / separate = ${(pb / pp).toFixed(2)}; ${((1000 * pp) / (r * B)).toFixed(2)} vs ${((1000 * pb) / (r * B)).toFixed(2)} µs per candidate; max |Δctr| ${worst.toExponential(1)}`,
      );
      plain.retire();
      batched.retire();
    }
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
