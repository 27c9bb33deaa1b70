// Messages between the inference pool (request loop) and its threads (inference.thread.ts), and the
// thread's side of them, which tests drive with a fake session over a MessageChannel.
import type { GraphInfo, GraphSettings, RunInput } from './model-graphs';

export type ToThread =
  | {
      op: 'load';
      id: number;
      key: string;
      /** The serving graph's file and, with micro-batching, the batch graph's. */
      serving: string;
      batch?: string;
      settings: GraphSettings;
    }
  | { op: 'run'; id: number; key: string; graph: 'serving' | 'batch'; inputs: RunInput[] }
  | { op: 'release'; id: number; key: string }
  /** Release every session (before the thread is terminated: a session torn down with it aborts). */
  | { op: 'close'; id: number };

export type FromThread =
  | { id: number; loaded: { serving: GraphInfo; batch?: GraphInfo }; fallback?: string }
  | { id: number; ctr: Float32Array; buffers: ArrayBuffer[] }
  | { id: number; released: true }
  /** A failed op; a failed run gives its input buffers back too. */
  | { id: number; error: string; buffers?: ArrayBuffer[] };

/** What a thread needs of an onnxruntime session (a fake in the pool's tests). */
export interface ThreadSession extends GraphInfo {
  run(inputs: RunInput[]): Promise<Float32Array>;
  release(): Promise<void>;
}

export type OpenSession = (
  path: string,
  settings: GraphSettings,
  onFallback: (reason: string) => void,
) => Promise<ThreadSession>;

/** The end of a channel a thread answers on (a worker's parentPort, or a MessagePort in tests). */
export interface ThreadEnd {
  on(event: 'message', listener: (m: ToThread) => void): unknown;
  postMessage(m: FromThread, transfer?: readonly ArrayBuffer[]): void;
}

/** The distinct buffers behind some arrays (a transfer list names each once). */
export const buffersOf = (arrays: readonly { buffer: ArrayBufferLike }[]): ArrayBuffer[] => [
  ...new Set(arrays.map((a) => a.buffer as ArrayBuffer)),
];

const plainInfo = (s: GraphInfo): GraphInfo => ({
  inputMetadata: s.inputMetadata.map((m) => ({ ...m })),
  inputNames: [...s.inputNames],
  outputNames: [...s.outputNames],
});

/**
 * A thread's loop: it owns the sessions of every version loaded on it, keyed by the pool's key, and
 * answers each op in order (a run blocks this thread, never the request loop).
 */
export function serveInference(port: ThreadEnd, open: OpenSession): void {
  const versions = new Map<string, { serving: ThreadSession; batch?: ThreadSession }>();

  async function handle(m: ToThread): Promise<void> {
    if (m.op === 'load') {
      let fallback: string | undefined;
      const onFallback = (reason: string) => void (fallback ??= reason);
      const serving = await open(m.serving, m.settings, onFallback);
      let batch: ThreadSession | undefined;
      try {
        batch = m.batch ? await open(m.batch, m.settings, onFallback) : undefined;
      } catch (err) {
        await serving.release();
        throw err;
      }
      await versions.get(m.key)?.serving.release();
      versions.set(m.key, { serving, batch });
      const loaded = { serving: plainInfo(serving), ...(batch ? { batch: plainInfo(batch) } : {}) };
      port.postMessage({ id: m.id, loaded, ...(fallback ? { fallback } : {}) });
    } else if (m.op === 'run') {
      const graphs = versions.get(m.key);
      const session = m.graph === 'serving' ? graphs?.serving : graphs?.batch;
      if (!session) throw new Error(`no ${m.graph} graph loaded for ${m.key}`);
      const ctr = await session.run(m.inputs);
      const buffers = buffersOf(m.inputs.map((i) => i.data));
      port.postMessage({ id: m.id, ctr, buffers }, [...buffersOf([ctr]), ...buffers]);
    } else {
      const keys = m.op === 'close' ? [...versions.keys()] : [m.key];
      for (const key of keys) {
        const graphs = versions.get(key);
        versions.delete(key);
        await graphs?.serving.release();
        await graphs?.batch?.release();
      }
      port.postMessage({ id: m.id, released: true });
    }
  }

  port.on('message', (m) => {
    handle(m).catch((err: unknown) => {
      const buffers = m.op === 'run' ? buffersOf(m.inputs.map((i) => i.data)) : undefined;
      const live = buffers?.filter((b) => b.byteLength > 0);
      port.postMessage({ id: m.id, error: (err as Error).message, buffers: live }, live ?? []);
    });
  });
}
