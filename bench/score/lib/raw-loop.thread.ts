// One raw session.run loop for bench/score --modes: the model alone, with the per-unit intra-op
// threads a serving mode gives each of its processes or pool threads, for a fixed time.
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import { artifactLayout, syntheticInputs } from './synthetic-inputs';

export interface RawLoopInit {
  dir: string;
  file: string;
  candidates: number;
  threads: number;
  spinning: string;
  /** Untimed runs first, then runs until `ms` have passed since the start signal. */
  warm: number;
  ms: number;
}

async function main(): Promise<void> {
  const init = workerData as RawLoopInit;
  const session = await ort.InferenceSession.create(join(init.dir, init.file), {
    intraOpNumThreads: init.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    extra: { session: { intra_op: { allow_spinning: init.spinning } } },
  });
  const feeds: Record<string, ort.Tensor> = {};
  for (const i of syntheticInputs(artifactLayout(init.dir), init.candidates))
    feeds[i.name] = new ort.Tensor(i.dtype, i.data, i.shape);
  for (let i = 0; i < init.warm; i++) await session.run(feeds);
  parentPort!.postMessage({ ready: true });
  await new Promise((r) => parentPort!.once('message', r)); // every loop starts together
  const ms: number[] = [];
  const end = performance.now() + init.ms;
  while (performance.now() < end) {
    const t = performance.now();
    await session.run(feeds);
    ms.push(performance.now() - t);
  }
  await session.release();
  parentPort!.postMessage({ ms });
}

void main();
