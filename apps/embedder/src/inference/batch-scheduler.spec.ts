import { BatchScheduler, type BatchOptions } from './batch-scheduler';

const vec = (x: number) => Float32Array.of(x);

function deferredRunner() {
  const calls: number[][] = [];
  const releases: (() => void)[] = [];
  const run = (inputs: number[]) => {
    calls.push(inputs);
    return new Promise<Float32Array[]>((resolve) => releases.push(() => resolve(inputs.map(vec))));
  };
  return { calls, releases, run };
}

/** A scheduler whose image batches go to a deferredRunner (released by the test) and that has no text work. */
function imageOnly(opts: BatchOptions) {
  const img = deferredRunner();
  return { img, s: new BatchScheduler<number, string>(img.run, async () => [], opts) };
}

describe('BatchScheduler', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('sends a full batch at once and a partial one after maxWaitMs', async () => {
    const { img, s } = imageOnly({ maxBatch: 3, maxWaitMs: 50, slots: 2 });
    const out = [1, 2, 3, 4].map((i) => s.image(i));
    expect(img.calls).toEqual([[1, 2, 3]]);
    jest.advanceTimersByTime(49);
    expect(img.calls).toHaveLength(1);
    jest.advanceTimersByTime(1);
    expect(img.calls).toEqual([[1, 2, 3], [4]]);
    img.releases.forEach((r) => r());
    expect((await Promise.all(out)).map((v) => v[0])).toEqual([1, 2, 3, 4]);
  });

  it('lets batches grow while every slot is busy', async () => {
    const { img, s } = imageOnly({ maxBatch: 8, maxWaitMs: 0, slots: 1 });
    const first = s.image(0);
    jest.advanceTimersByTime(0);
    expect(img.calls).toEqual([[0]]);
    const rest = [1, 2, 3, 4, 5].map((i) => s.image(i));
    jest.advanceTimersByTime(100);
    expect(img.calls).toHaveLength(1); // the only slot is busy
    img.releases[0]!();
    await first;
    await jest.advanceTimersByTimeAsync(1); // lets the finished batch free its slot
    expect(img.calls[1]).toEqual([1, 2, 3, 4, 5]);
    img.releases[1]!();
    await Promise.all(rest);
  });

  it('rejects every item of a failed batch', async () => {
    const s = new BatchScheduler<number, string>(
      async () => {
        throw new Error('boom');
      },
      async () => [],
      { maxBatch: 2, maxWaitMs: 0, slots: 1 },
    );
    const a = s.image(1);
    const b = s.image(2);
    await expect(a).rejects.toThrow('boom');
    await expect(b).rejects.toThrow('boom');
  });

  it('serves text and image from the same slots', async () => {
    const img = deferredRunner();
    const texts: string[][] = [];
    const s = new BatchScheduler<number, string>(
      img.run,
      async (t) => {
        texts.push(t);
        return t.map(() => vec(0));
      },
      { maxBatch: 2, maxWaitMs: 10, slots: 1 },
    );
    const i = [s.image(1), s.image(2)];
    const t = [s.text('a'), s.text('b')];
    expect(img.calls).toEqual([[1, 2]]);
    expect(texts).toEqual([]);
    img.releases[0]!();
    await Promise.all(i);
    await Promise.all(t);
    expect(texts).toEqual([['a', 'b']]);
  });
});
