// The inference pool (SCORER_INFERENCE_WORKERS > 0): threads that each own onnxruntime sessions for
// every loaded version, so session.run no longer blocks the request loop. A request's input buffers are
// transferred to the thread that runs it and back (no copy); versions are loaded on, and released
// from, every thread.
import type { GraphInfo, GraphSettings, RunInput } from './model-graphs';
import { buffersOf, type FromThread, type ToThread } from './inference-protocol';

/** A pool thread as the pool sees it (a Worker; tests give one over a MessageChannel). */
export interface PoolThread {
  postMessage(m: ToThread, transfer?: readonly ArrayBuffer[]): void;
  on(event: 'message', listener: (m: FromThread) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'exit', listener: (code: number) => void): unknown;
  terminate(): Promise<unknown>;
}

export interface PoolLogger {
  error(obj: object, msg: string): void;
}

interface Pending {
  resolve: (m: FromThread) => void;
  reject: (err: Error) => void;
}

interface Slot {
  thread: PoolThread;
  pending: Map<number, Pending>;
}

export interface LoadSpec {
  serving: string;
  batch?: string;
  settings: GraphSettings;
}

export interface Loaded {
  serving: GraphInfo;
  batch?: GraphInfo;
  /** Why cuda was not used, when asked for and a thread fell back to cpu. */
  fallback?: string;
}

/** A thread that failed or exited: its runs in flight are rejected with this. */
export class InferenceThreadExited extends Error {}

const isError = (m: FromThread): m is Extract<FromThread, { error: string }> => 'error' in m;

export class InferencePool {
  private readonly slots: Slot[] = [];
  /** Versions loaded, by key: a thread that replaces an exited one loads them again. */
  private readonly loaded = new Map<string, LoadSpec>();
  private nextId = 0;
  private nextKey = 0;
  private turn = 0;
  private closing = false;
  private closed: Promise<void> | undefined;

  constructor(
    readonly size: number,
    private readonly spawn: (index: number) => PoolThread,
    private readonly logger?: PoolLogger,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`inference pool size must be >= 1, got ${size}`);
    for (let i = 0; i < size; i++) this.slots.push(this.start(i));
  }

  /** A key of its own for each load (the same version may be loaded again after a release). */
  newKey(version: string): string {
    return `${version}#${this.nextKey++}`;
  }

  /** Runs (requests) each thread has in flight, in thread order. */
  get busy(): number[] {
    return this.slots.map((s) => s.pending.size);
  }

  /** Loads a version's graphs on every thread; when any thread fails, releases it from all and throws. */
  async load(key: string, spec: LoadSpec): Promise<Loaded> {
    this.loaded.set(key, spec);
    const replies = await Promise.allSettled(this.slots.map((s) => this.loadOn(s, key, spec)));
    const failed = replies.find((r) => r.status === 'rejected');
    if (failed) {
      await this.release(key);
      throw failed.reason;
    }
    const first = (replies[0] as PromiseFulfilledResult<Extract<FromThread, { loaded: unknown }>>).value;
    const fallback = replies
      .map((r) => (r as PromiseFulfilledResult<{ fallback?: string }>).value.fallback)
      .find((f) => f !== undefined);
    return { ...first.loaded, ...(fallback ? { fallback } : {}) };
  }

  /**
   * Runs one graph of a loaded version on the least busy thread (or on `thread`). The inputs' buffers
   * are transferred: they are unusable here until the run settles, when `returned` gets them back.
   */
  async run(
    key: string,
    graph: 'serving' | 'batch',
    inputs: RunInput[],
    returned?: (buffers: ArrayBuffer[]) => void,
    thread?: number,
  ): Promise<Float32Array> {
    const slot = thread === undefined ? this.leastBusy() : this.slots[thread % this.slots.length]!;
    const buffers = buffersOf(inputs.map((i) => i.data));
    let reply: FromThread;
    try {
      reply = await this.request(slot, { op: 'run', id: 0, key, graph, inputs }, buffers);
    } catch (err) {
      if (err instanceof ThreadError && err.buffers?.length) returned?.(err.buffers);
      throw err;
    }
    if (!('ctr' in reply)) throw new Error(`inference thread answered a run without ctr`);
    returned?.(reply.buffers);
    return reply.ctr;
  }

  /** Releases a version's sessions on every thread. */
  async release(key: string): Promise<void> {
    this.loaded.delete(key);
    await Promise.allSettled(this.slots.map((s) => this.request(s, { op: 'release', id: 0, key })));
  }

  /** Releases every session on every thread (bounded by `timeoutMs`), then ends the threads. */
  close(timeoutMs = 5000): Promise<void> {
    this.closed ??= this.shutDown(timeoutMs);
    return this.closed;
  }

  private async shutDown(timeoutMs: number): Promise<void> {
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise((r) => (timer = setTimeout(r, timeoutMs)));
    const released = this.slots.map((s) => this.request(s, { op: 'close', id: 0 }));
    await Promise.race([Promise.allSettled(released), bound]);
    clearTimeout(timer);
    await Promise.allSettled(this.slots.map((s) => s.thread.terminate()));
  }

  /** The thread with the fewest runs in flight; ties go round the threads in turn. */
  private leastBusy(): Slot {
    const n = this.slots.length;
    let best = this.slots[this.turn % n]!;
    for (let k = 1; k < n; k++) {
      const s = this.slots[(this.turn + k) % n]!;
      if (s.pending.size < best.pending.size) best = s;
    }
    this.turn = (this.turn + 1) % n;
    return best;
  }

  private loadOn(slot: Slot, key: string, spec: LoadSpec) {
    return this.request(slot, { op: 'load', id: 0, key, ...spec }) as Promise<
      Extract<FromThread, { loaded: unknown }>
    >;
  }

  private request(slot: Slot, m: ToThread, transfer: readonly ArrayBuffer[] = []): Promise<FromThread> {
    const id = this.nextId++;
    return new Promise<FromThread>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      try {
        slot.thread.postMessage({ ...m, id }, transfer);
      } catch (err) {
        slot.pending.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  private start(index: number): Slot {
    const slot: Slot = { thread: this.spawn(index), pending: new Map() };
    slot.thread.on('message', (m: FromThread) => {
      const p = slot.pending.get(m.id);
      if (!p) return;
      slot.pending.delete(m.id);
      if (isError(m)) p.reject(new ThreadError(m.error, m.buffers));
      else p.resolve(m);
    });
    slot.thread.on('error', (err: Error) =>
      this.logger?.error({ thread: index, err: err.message }, 'inference thread failed'),
    );
    slot.thread.on('exit', (code: number) => this.replace(index, slot, code));
    return slot;
  }

  /** An exited thread: its runs fail (the requests degrade), a fresh one loads every live version. */
  private replace(index: number, slot: Slot, code: number): void {
    const err = new InferenceThreadExited(`inference thread ${index} exited (code ${code})`);
    for (const p of slot.pending.values()) p.reject(err);
    slot.pending.clear();
    if (this.closing || this.slots[index] !== slot) return;
    this.logger?.error({ thread: index, code }, 'inference thread exited; starting a fresh one');
    const fresh = this.start(index);
    this.slots[index] = fresh;
    for (const [key, spec] of this.loaded)
      this.loadOn(fresh, key, spec).catch((e: Error) =>
        this.logger?.error({ thread: index, key, err: e.message }, 'inference thread could not reload'),
      );
  }
}

/** A failed op reported by a thread (with a run's input buffers, given back). */
class ThreadError extends Error {
  constructor(
    message: string,
    readonly buffers?: ArrayBuffer[],
  ) {
    super(message);
  }
}
