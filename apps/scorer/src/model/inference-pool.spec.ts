import { EventEmitter } from 'node:events';
import { MessageChannel } from 'node:worker_threads';
import { InferencePool, InferenceThreadExited, type PoolThread } from './inference-pool';
import { serveInference, type ThreadSession } from './inference-protocol';
import type { GraphSettings, RunInput } from './model-graphs';

const settings: GraphSettings = {
  intraOpThreads: 1,
  interOpThreads: 1,
  allowSpinning: false,
  provider: 'cpu',
};
const info = { inputMetadata: [], inputNames: ['x'], outputNames: ['ctr'] };

/** A fake session: ctr[i] = x[i] * scale, answered when `gate` opens (runs can be held in flight). */
function fakeSession(path: string, log: string[], gate: () => Promise<void>): ThreadSession {
  const scale = path.endsWith('batch.onnx') ? 10 : 2;
  return {
    ...info,
    run: async (inputs: RunInput[]) => {
      await gate();
      if (path.includes('broken')) throw new Error('run failed');
      const x = inputs[0]!.data as Float32Array;
      return Float32Array.from(x, (v) => v * scale);
    },
    release: () => {
      log.push(`release ${path}`);
      return Promise.resolve();
    },
  };
}

/** A pool thread on a MessageChannel, its other end served by serveInference with fake sessions. */
class FakeThread extends EventEmitter implements PoolThread {
  readonly channel = new MessageChannel();
  opened: string[] = [];
  released: string[] = [];
  private holds: (() => void)[] = [];
  holding = false;

  constructor(readonly index: number) {
    super();
    this.channel.port1.on('message', (m) => this.emit('message', m));
    serveInference(this.channel.port2, (path) => {
      if (path.includes('unloadable')) return Promise.reject(new Error(`cannot open ${path}`));
      this.opened.push(path);
      return Promise.resolve(fakeSession(path, this.released, () => this.gate()));
    });
  }

  private gate(): Promise<void> {
    if (!this.holding) return Promise.resolve();
    return new Promise((resolve) => this.holds.push(resolve));
  }

  releaseHeld(): void {
    this.holding = false;
    for (const h of this.holds.splice(0)) h();
  }

  postMessage(m: never, transfer?: readonly ArrayBuffer[]): void {
    this.channel.port1.postMessage(m, transfer as ArrayBuffer[]);
  }

  terminate(): Promise<number> {
    this.channel.port1.close();
    return Promise.resolve(0);
  }

  /** The thread dies (as a crashed worker would). */
  crash(): void {
    this.channel.port1.close();
    this.emit('exit', 1);
  }
}

const input = (values: number[]): RunInput => ({
  name: 'x',
  dtype: 'float32',
  dims: [values.length],
  data: new Float32Array(values),
});
const tick = () => new Promise((r) => setTimeout(r, 20));

describe('InferencePool (fake sessions over message channels)', () => {
  let threads: FakeThread[];
  let pool: InferencePool;
  const errors: string[] = [];
  const start = (n: number) => {
    threads = [];
    pool = new InferencePool(
      n,
      (i) => {
        const t = new FakeThread(i);
        threads.push(t);
        return t;
      },
      { error: (_obj, msg) => errors.push(msg) },
    );
  };
  afterEach(() => pool?.close());

  it('refuses a size below 1', () => {
    start(1);
    expect(() => new InferencePool(0, () => new FakeThread(0))).toThrow('inference pool size must be >= 1');
  });

  it('loads a version on every thread and answers its signature', async () => {
    start(3);
    const loaded = await pool.load(pool.newKey('v1'), {
      serving: '/m/model.onnx',
      batch: '/m/model.batch.onnx',
      settings,
    });
    expect(loaded.serving.outputNames).toEqual(['ctr']);
    expect(loaded.batch?.inputNames).toEqual(['x']);
    for (const t of threads) expect(t.opened).toEqual(['/m/model.onnx', '/m/model.batch.onnx']);
  });

  it('runs on a thread, the buffers transferred there and given back with their values', async () => {
    start(2);
    const key = pool.newKey('v1');
    await pool.load(key, { serving: '/m/model.onnx', settings });
    const x = input([1, 2, 3]);
    let back: ArrayBuffer[] = [];
    const running = pool.run(key, 'serving', [x], (b) => (back = b));
    expect(x.data.length).toBe(0); // transferred: detached here while the thread holds it
    expect(Array.from(await running)).toEqual([2, 4, 6]);
    expect(back).toHaveLength(1);
    expect(Array.from(new Float32Array(back[0]!))).toEqual([1, 2, 3]);
    // The batch graph when asked for.
    await pool.load('v2', { serving: '/n/model.onnx', batch: '/n/model.batch.onnx', settings });
    expect(Array.from(await pool.run('v2', 'batch', [input([1])]))).toEqual([10]);
  });

  it('sends each run to the least busy thread, ties in turn', async () => {
    start(3);
    const key = pool.newKey('v1');
    await pool.load(key, { serving: '/m/model.onnx', settings });
    threads.forEach((t) => (t.holding = true));
    const runs = [1, 2, 3, 4].map((v) => pool.run(key, 'serving', [input([v])]));
    expect(pool.busy).toEqual([2, 1, 1]);
    threads[1]!.releaseHeld();
    await runs[1];
    expect(pool.busy).toEqual([2, 0, 1]);
    const next = pool.run(key, 'serving', [input([5])]);
    expect(pool.busy).toEqual([2, 1, 1]);
    threads.forEach((t) => t.releaseHeld());
    expect((await Promise.all([...runs, next])).map((c) => c[0])).toEqual([2, 4, 6, 8, 10]);
    expect(pool.busy).toEqual([0, 0, 0]);
    // Warm-up names its thread.
    threads.forEach((t) => (t.holding = true));
    const pinned = pool.run(key, 'serving', [input([1])], undefined, 2);
    expect(pool.busy).toEqual([0, 0, 1]);
    threads[2]!.releaseHeld();
    await pinned;
  });

  it("rejects a failed run with the thread's message and gives its buffers back", async () => {
    start(1);
    await pool.load('b', { serving: '/broken/model.onnx', settings });
    let back: ArrayBuffer[] = [];
    await expect(pool.run('b', 'serving', [input([7])], (b) => (back = b))).rejects.toThrow('run failed');
    expect(Array.from(new Float32Array(back[0]!))).toEqual([7]);
    await expect(pool.run('unknown', 'serving', [input([1])])).rejects.toThrow(
      'no serving graph loaded for unknown',
    );
  });

  it('a version that fails to load on one thread is released from all and the load throws', async () => {
    start(2);
    await expect(pool.load('u', { serving: '/unloadable/model.onnx', settings })).rejects.toThrow(
      'cannot open /unloadable/model.onnx',
    );
  });

  it('releases a version on every thread', async () => {
    start(2);
    await pool.load('v1', { serving: '/m/model.onnx', batch: '/m/model.batch.onnx', settings });
    await pool.release('v1');
    for (const t of threads)
      expect(t.released).toEqual(['release /m/model.onnx', 'release /m/model.batch.onnx']);
    await expect(pool.run('v1', 'serving', [input([1])])).rejects.toThrow('no serving graph loaded');
  });

  it('closing releases every session on every thread before ending them', async () => {
    start(2);
    await pool.load('v1', { serving: '/m/model.onnx', settings });
    await pool.load('v2', { serving: '/n/model.onnx', settings });
    await pool.close();
    for (const t of threads)
      expect(t.released.sort()).toEqual(['release /m/model.onnx', 'release /n/model.onnx']);
    expect(errors).not.toContain('inference thread exited; starting a fresh one');
  });

  it('an exited thread fails its runs in flight; a fresh one loads the live versions and serves', async () => {
    start(2);
    await pool.load('v1', { serving: '/m/model.onnx', settings });
    await pool.load('gone', { serving: '/g/model.onnx', settings });
    await pool.release('gone');
    threads[0]!.holding = true;
    const inFlight = pool.run('v1', 'serving', [input([1])], undefined, 0);
    threads[0]!.crash();
    await expect(inFlight).rejects.toBeInstanceOf(InferenceThreadExited);
    expect(errors).toContain('inference thread exited; starting a fresh one');
    expect(threads).toHaveLength(3);
    await tick();
    expect(threads[2]!.opened).toEqual(['/m/model.onnx']); // live versions only
    expect(Array.from(await pool.run('v1', 'serving', [input([4])], undefined, 0))).toEqual([8]);
  });
});
