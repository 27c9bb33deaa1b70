import { MicroBatcher } from './micro-batcher';

interface Job {
  batch: number;
  /** CTR base of this job's candidates: job k's i-th candidate scores base + i. */
  base: number;
}

const scores = (jobs: Job[]) =>
  Float32Array.from(jobs.flatMap((j) => Array.from({ length: j.batch }, (_, i) => j.base + i)));

function setup(windowMs: number, maxCandidates: number) {
  const calls: { kind: 'one' | 'many'; jobs: Job[] }[] = [];
  const flushes: [number, number][] = [];
  const batcher = new MicroBatcher<Job>(
    { windowMs, maxCandidates },
    (job) => (calls.push({ kind: 'one', jobs: [job] }), Promise.resolve(scores([job]))),
    (jobs) => (calls.push({ kind: 'many', jobs }), Promise.resolve(scores(jobs))),
    (requests, candidates) => flushes.push([requests, candidates]),
  );
  return { batcher, calls, flushes };
}

describe('MicroBatcher', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('runs the requests of one window together and gives each its own CTRs', async () => {
    const { batcher, calls, flushes } = setup(5, 1000);
    const a = batcher.run({ batch: 2, base: 10 });
    const b = batcher.run({ batch: 3, base: 20 });
    const c = batcher.run({ batch: 1, base: 30 });
    expect(calls).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(5);
    expect(calls.map((x) => x.kind)).toEqual(['many']);
    expect(flushes).toEqual([[3, 6]]);
    expect(Array.from(await a)).toEqual([10, 11]);
    expect(Array.from(await b)).toEqual([20, 21, 22]);
    expect(Array.from(await c)).toEqual([30]);
  });

  it('runs a lone request on the ordinary graph once the window has passed', async () => {
    const { batcher, calls } = setup(5, 1000);
    const a = batcher.run({ batch: 4, base: 1 });
    await jest.advanceTimersByTimeAsync(4);
    expect(calls).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(calls.map((x) => x.kind)).toEqual(['one']);
    expect(Array.from(await a)).toEqual([1, 2, 3, 4]);
  });

  it('runs at once when the batch is full, and starts a new window after it', async () => {
    const { batcher, calls, flushes } = setup(50, 5);
    const a = batcher.run({ batch: 2, base: 0 });
    const b = batcher.run({ batch: 3, base: 5 });
    expect(calls.map((x) => x.kind)).toEqual(['many']); // 5 candidates: no wait for the window
    const big = batcher.run({ batch: 9, base: 100 }); // over the cap by itself
    expect(calls.map((x) => x.kind)).toEqual(['many', 'one']);
    const late = batcher.run({ batch: 1, base: 7 });
    await jest.advanceTimersByTimeAsync(50);
    expect(flushes).toEqual([
      [2, 5],
      [1, 9],
      [1, 1],
    ]);
    expect(Array.from(await a)).toEqual([0, 1]);
    expect(Array.from(await b)).toEqual([5, 6, 7]);
    expect((await big).length).toBe(9);
    expect(Array.from(await late)).toEqual([7]);
  });

  it('with a window of 0 batches the requests of one event-loop turn, without a timer', async () => {
    jest.useRealTimers();
    const { batcher, calls, flushes } = setup(0, 1000);
    const a = batcher.run({ batch: 2, base: 10 });
    const b = batcher.run({ batch: 1, base: 20 });
    await new Promise((resolve) => setImmediate(resolve));
    const c = batcher.run({ batch: 1, base: 30 });
    expect(Array.from(await a)).toEqual([10, 11]);
    expect(Array.from(await b)).toEqual([20]);
    expect(Array.from(await c)).toEqual([30]);
    expect(calls.map((x) => x.kind)).toEqual(['many', 'one']);
    expect(flushes).toEqual([
      [2, 3],
      [1, 1],
    ]);
  });

  it('fails every request of a failed run, and of a run with the wrong number of CTRs', async () => {
    const failing = new MicroBatcher<Job>(
      { windowMs: 1, maxCandidates: 100 },
      () => Promise.reject(new Error('boom')),
      () => Promise.reject(new Error('boom')),
    );
    const x = failing.run({ batch: 1, base: 0 });
    const y = failing.run({ batch: 1, base: 0 });
    const checks = [expect(x).rejects.toThrow('boom'), expect(y).rejects.toThrow('boom')];
    await jest.advanceTimersByTimeAsync(1);
    await Promise.all(checks);

    const short = new MicroBatcher<Job>(
      { windowMs: 1, maxCandidates: 100 },
      () => Promise.resolve(new Float32Array(0)),
      () => Promise.resolve(new Float32Array(1)),
    );
    const p = short.run({ batch: 2, base: 0 });
    const q = short.run({ batch: 2, base: 0 });
    const checks2 = [expect(p).rejects.toThrow(/1 CTRs for 4/), expect(q).rejects.toThrow(/1 CTRs for 4/)];
    await jest.advanceTimersByTimeAsync(1);
    await Promise.all(checks2);
  });
});
