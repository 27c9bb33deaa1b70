import { WriteBatcher } from './write-batcher';

describe('WriteBatcher', () => {
  let writes: number[][];
  const batcher = (maxRows: number, maxWaitMs: number) =>
    new WriteBatcher<number>(
      async (rows) => {
        writes.push(rows);
      },
      maxRows,
      maxWaitMs,
    );

  beforeEach(() => {
    writes = [];
    jest.useFakeTimers();
  });
  afterEach(() => jest.useRealTimers());

  it('holds rows until the wait has passed, then writes them together', async () => {
    const b = batcher(100, 1_000);
    const done = Promise.all([b.add(1), b.add(2)]);
    await jest.advanceTimersByTimeAsync(999);
    expect(writes).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    await done;
    expect(writes).toEqual([[1, 2]]);
  });

  it('writes as soon as maxRows rows are pending', async () => {
    const b = batcher(2, 1_000);
    await Promise.all([b.add(1), b.add(2)]);
    expect(writes).toEqual([[1, 2]]);
  });

  it('writes the pending rows at once when a caller says none are coming', async () => {
    const b = batcher(100, 60_000);
    const first = b.add(1);
    await jest.advanceTimersByTimeAsync(10);
    await Promise.all([first, b.add(2, true)]);
    expect(writes).toEqual([[1, 2]]);
  });

  it('rejects every caller of a failed write', async () => {
    const b = new WriteBatcher<number>(() => Promise.reject(new Error('down')), 2, 1_000);
    const results = await Promise.allSettled([b.add(1), b.add(2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
