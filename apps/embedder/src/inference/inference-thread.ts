// Entry of an inference worker thread: owns the ONNX sessions so that inference never blocks the
// main event loop (BullMQ lock renewal, health checks, metrics scrapes stay responsive).
import { parentPort, workerData } from 'node:worker_threads';
import { Encoders, type TextRuns } from './encoders';
import type { ModelSet } from './model-manifest';

export interface ThreadInit {
  models: ModelSet;
  intraOpThreads: number;
  textRuns: TextRuns;
}

export type ThreadRequest =
  | { id: number; kind: 'image'; pixels: ArrayBuffer; count: number }
  | { id: number; kind: 'text'; texts: string[] };

export type ThreadReply =
  | { id: number; ok: true; vectors: ArrayBuffer; count: number; dim: number }
  | { id: number; ok: false; error: string }
  | { id: -1; ok: true; ready: true };

async function main(): Promise<void> {
  const port = parentPort!;
  const init = workerData as ThreadInit;
  const encoders = await Encoders.load(init.models, init.intraOpThreads, init.textRuns);
  // Requests run one at a time: the scheduler sends at most one per thread, and ORT's own threads
  // already use the cores.
  let chain = Promise.resolve();
  port.on('message', (req: ThreadRequest) => {
    chain = chain.then(async () => {
      try {
        const rows =
          req.kind === 'image'
            ? await encoders.encodeImages(new Uint8Array(req.pixels), req.count)
            : await encoders.encodeTexts(req.texts);
        const dim = rows[0]?.length ?? 0;
        const flat = new Float32Array(rows.length * dim);
        rows.forEach((r, i) => flat.set(r, i * dim));
        const reply: ThreadReply = { id: req.id, ok: true, vectors: flat.buffer, count: rows.length, dim };
        port.postMessage(reply, [flat.buffer]);
      } catch (err) {
        port.postMessage({ id: req.id, ok: false, error: (err as Error).message } satisfies ThreadReply);
      }
    });
  });
  port.postMessage({ id: -1, ok: true, ready: true } satisfies ThreadReply);
}

main().catch((err: Error) => {
  // Surfaces as the Worker's 'error' event in the main thread.
  throw err;
});
