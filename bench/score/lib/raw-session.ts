// onnxruntime sessions outside the scorer: the model with one request's inputs, and the fp32 MatMul
// graph whose FLOP rate is the machine's ceiling.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { percentile } from '@mmctr/observability';
import { B, FILE, PY, REPO, SCRIPTS, SESSION_EXTRA, THREADS } from './settings';
import { artifactLayout, syntheticInputs } from './synthetic-inputs';
import { timeRuns } from './timing';

const [MM_M, MM_K, MM_N] = [500, 1024, 1024];

async function matmulSession(extra?: typeof SESSION_EXTRA) {
  const file = join(REPO, '.cache', 'bench-models', `matmul-${MM_M}x${MM_K}x${MM_N}.onnx`);
  if (!existsSync(file))
    execFileSync(PY, [join(SCRIPTS, 'make-matmul.py'), file, String(MM_M), String(MM_K), String(MM_N)]);
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    ...(extra ? { extra } : {}),
  });
  const x = new ort.Tensor(
    'float32',
    Float32Array.from({ length: MM_M * MM_K }, (_, i) => Math.sin(i)),
    [MM_M, MM_K],
  );
  return { session, feeds: { X: x } };
}

const matmulGflopsOf = (ms: number) => (2 * MM_M * MM_K * MM_N) / (ms / 1e3) / 1e9;

export async function matmulGflops(): Promise<{ gflops: number; p50: number }> {
  // The ceiling: onnxruntime defaults (pool threads spin), whatever the scorer is set to.
  const { session, feeds } = await matmulSession();
  const { p50 } = await timeRuns(() => session.run(feeds), 10, 100);
  await session.release();
  return { gflops: matmulGflopsOf(p50), p50 };
}

/**
 * Model vs MatMul FLOP rate with the runs alternating (one each, 100 times) and the same session
 * options for both, so a shared machine's changing load hits both alike.
 */
export async function flopRatioInterleaved(dir: string, flops: number) {
  const mm = await matmulSession(SESSION_EXTRA);
  const model = await rawFixture(dir, FILE);
  const a: number[] = [];
  const b: number[] = [];
  try {
    for (let i = 0; i < 110; i++) {
      let t = process.hrtime.bigint();
      await mm.session.run(mm.feeds);
      const x = Number(process.hrtime.bigint() - t) / 1e6;
      t = process.hrtime.bigint();
      await model.session.run(model.feeds);
      const y = Number(process.hrtime.bigint() - t) / 1e6;
      if (i < 10) continue; // warm-up
      a.push(x);
      b.push(y);
    }
  } finally {
    await mm.session.release();
    await model.session.release();
  }
  a.sort((p, q) => p - q);
  b.sort((p, q) => p - q);
  const matmul = matmulGflopsOf(percentile(a, 50));
  const modelGflops = flops / (percentile(b, 50) / 1e3) / 1e9;
  return { matmul_gflops: matmul, model_gflops: modelGflops, ratio: modelGflops / matmul };
}

/** A session with the scorer's options and one request's inputs, ids spread over each slot's range. */
export async function rawFixture(dir: string, file: string) {
  const session = await ort.InferenceSession.create(join(dir, file), {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    extra: SESSION_EXTRA,
  });
  const feeds: Record<string, ort.Tensor> = {};
  for (const i of syntheticInputs(artifactLayout(dir), B))
    feeds[i.name] = new ort.Tensor(i.dtype, i.data, i.shape);
  return { session, feeds };
}

export async function rawSession(dir: string, file: string) {
  const { session, feeds } = await rawFixture(dir, file);
  const r = await timeRuns(() => session.run(feeds), 10, 200);
  const ctr = Array.from((await session.run(feeds)).ctr!.data as Float32Array);
  await session.release();
  return { ...r, ctr };
}
