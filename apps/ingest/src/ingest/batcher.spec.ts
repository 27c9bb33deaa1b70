import { Batcher } from './batcher';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

describe('Batcher', () => {
  it('flushes as soon as maxRows are pending, taking whole items oldest first', async () => {
    const flushed: string[][] = [];
    const b = new Batcher<string>(
      { maxRows: 10, maxWaitMs: 60_000, maxPendingRows: 1_000 },
      async (items) => {
        flushed.push(items);
      },
    );
    await b.add('a', 4);
    await b.add('b', 4);
    expect(flushed).toEqual([]);
    await b.add('c', 4); // 12 >= 10: flush a+b (c would exceed 10), c stays
    await b.drain();
    expect(flushed).toEqual([['a', 'b'], ['c']]);
  });

  it('flushes a lone item heavier than maxRows on its own', async () => {
    const flushed: [string[], number][] = [];
    const b = new Batcher<string>(
      { maxRows: 10, maxWaitMs: 60_000, maxPendingRows: 1_000 },
      async (items, rows) => {
        flushed.push([items, rows]);
      },
    );
    await b.add('big', 25);
    await b.drain();
    expect(flushed).toEqual([[['big'], 25]]);
  });

  it('flushes after maxWaitMs when fewer rows are pending', async () => {
    jest.useFakeTimers();
    try {
      const flushed: string[][] = [];
      const b = new Batcher<string>(
        { maxRows: 100, maxWaitMs: 500, maxPendingRows: 1_000 },
        async (items) => {
          flushed.push(items);
        },
      );
      await b.add('a', 1);
      await b.add('b', 1);
      await jest.advanceTimersByTimeAsync(499);
      expect(flushed).toEqual([]);
      await jest.advanceTimersByTimeAsync(1);
      expect(flushed).toEqual([['a', 'b']]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('runs one flush at a time, in order, and applies back-pressure at maxPendingRows', async () => {
    const gate = deferred();
    const flushed: string[][] = [];
    let concurrent = 0;
    let maxConcurrent = 0;
    const b = new Batcher<string>({ maxRows: 2, maxWaitMs: 60_000, maxPendingRows: 4 }, async (items) => {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      if (flushed.length === 0) await gate.promise;
      flushed.push(items);
      concurrent--;
    });
    await b.add('a', 2); // first flush starts and blocks on the gate
    await b.add('b', 2);
    let thirdAdded = false;
    const third = b.add('c', 2).then(() => (thirdAdded = true)); // 4 pending >= maxPendingRows: waits
    await Promise.resolve();
    expect(thirdAdded).toBe(false);
    expect(b.pendingRows).toBe(4);
    gate.resolve();
    await third;
    await b.drain();
    expect(flushed).toEqual([['a'], ['b'], ['c']]);
    expect(maxConcurrent).toBe(1);
  });

  it('after a failed flush, flushes nothing later and drain reports the failure', async () => {
    const flushed: string[][] = [];
    const b = new Batcher<string>({ maxRows: 1, maxWaitMs: 60_000, maxPendingRows: 1_000 }, async (items) => {
      if (items[0] === 'bad') throw new Error('store gave up');
      flushed.push(items);
    });
    await b.add('ok', 1);
    await b.add('bad', 1);
    await b.add('later', 1);
    await expect(b.drain()).rejects.toThrow('store gave up');
    expect(flushed).toEqual([['ok']]);
  });
});
