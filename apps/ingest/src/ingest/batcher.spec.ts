import { Batcher, type BatcherOptions } from './batcher';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

/** A batcher of strings with these limits (unset: 10 rows, 60 s, 1,000 pending) that records each flush's items. */
function recording(limits: Partial<BatcherOptions> = {}) {
  const flushed: string[][] = [];
  const b = new Batcher<string>(
    { maxRows: 10, maxWaitMs: 60_000, maxPendingRows: 1_000, ...limits },
    async (items) => {
      flushed.push(items);
    },
  );
  return { b, flushed };
}

describe('Batcher', () => {
  it('flushes as soon as maxRows are pending, taking whole items oldest first', async () => {
    const { b, flushed } = recording();
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
      const { b, flushed } = recording({ maxRows: 100, maxWaitMs: 500 });
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
  it('overlaps up to maxConcurrentFlushes stores but commits strictly in flush order', async () => {
    const gates = [deferred(), deferred(), deferred()];
    const events: string[] = [];
    let concurrent = 0;
    let maxConcurrent = 0;
    const b = new Batcher<string, string>(
      { maxRows: 1, maxWaitMs: 60_000, maxPendingRows: 1_000, maxConcurrentFlushes: 2 },
      async (items) => {
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        await gates[Number(items[0])]!.promise;
        concurrent--;
        events.push(`stored ${items[0]}`);
        return `r${items[0]}`;
      },
      async (items, stored) => {
        events.push(`commit ${items[0]} ${stored}`);
      },
    );
    await b.add('0', 1);
    await b.add('1', 1);
    await b.add('2', 1); // waits: two stores in flight
    gates[1]!.resolve(); // the second store finishes first ...
    await new Promise((r) => setImmediate(r));
    expect(events).toEqual(['stored 1']); // ... but must not commit before the first
    gates[0]!.resolve();
    gates[2]!.resolve();
    await b.drain();
    expect(events.filter((e) => e.startsWith('commit'))).toEqual([
      'commit 0 r0',
      'commit 1 r1',
      'commit 2 r2',
    ]);
    expect(maxConcurrent).toBe(2);
  });

  it('with overlapping stores, a failed store blocks the commits of every later flush', async () => {
    const committed: string[] = [];
    const gate = deferred();
    const b = new Batcher<string>(
      { maxRows: 1, maxWaitMs: 60_000, maxPendingRows: 1_000, maxConcurrentFlushes: 2 },
      async (items) => {
        if (items[0] === 'bad') {
          await gate.promise;
          throw new Error('store gave up');
        }
      },
      async (items) => {
        committed.push(items[0]!);
      },
    );
    await b.add('ok', 1);
    await b.add('bad', 1);
    await b.add('later', 1); // stored beside 'bad', but its commit would skip 'bad'
    await new Promise((r) => setImmediate(r));
    gate.resolve();
    await expect(b.drain()).rejects.toThrow('store gave up');
    expect(committed).toEqual(['ok']);
  });

  it('counts the time an item already spent queued towards maxWaitMs', async () => {
    jest.useFakeTimers();
    try {
      const gate = deferred();
      const flushed: string[][] = [];
      const b = new Batcher<string>({ maxRows: 2, maxWaitMs: 500, maxPendingRows: 1_000 }, async (items) => {
        if (items[0] === 'a') await gate.promise;
        flushed.push(items);
      });
      await b.add('a', 2); // full: flushes at once and blocks
      await jest.advanceTimersByTimeAsync(100);
      await b.add('b', 1); // queued behind the running flush
      await jest.advanceTimersByTimeAsync(400);
      gate.resolve(); // 'b' has waited 400 ms: due 100 ms after this, not 500
      await jest.advanceTimersByTimeAsync(99);
      expect(flushed).toEqual([['a']]);
      await jest.advanceTimersByTimeAsync(1);
      expect(flushed).toEqual([['a'], ['b']]);
    } finally {
      jest.useRealTimers();
    }
  });
});
