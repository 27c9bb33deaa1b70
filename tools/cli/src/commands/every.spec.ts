import { parseDuration, runEvery } from './every';

describe('parseDuration', () => {
  it('reads seconds, minutes and hours', () => {
    expect(parseDuration('every', '30s')).toBe(30_000);
    expect(parseDuration('every', '5m')).toBe(300_000);
    expect(parseDuration('every', '1h')).toBe(3_600_000);
  });

  it.each(['', '5', '0m', '-5m', '5 minutes', '1.5h', '5d'])('refuses %p, naming the flag', (value) => {
    expect(() => parseDuration('every', value)).toThrow(/--every must be a positive duration/);
  });
});

describe('runEvery', () => {
  it('runs at once and then on the interval, goes on after a failed run, stops when aborted', async () => {
    const controller = new AbortController();
    const starts: number[] = [];
    const errors: string[] = [];
    const t0 = Date.now();
    await runEvery(
      40,
      async () => {
        starts.push(Date.now() - t0);
        if (starts.length === 2) throw new Error('ClickHouse unreachable');
        if (starts.length === 4) controller.abort();
      },
      (err) => errors.push(err.message),
      controller.signal,
    );
    expect(starts).toHaveLength(4);
    expect(errors).toEqual(['ClickHouse unreachable']);
    expect(starts[0]).toBeLessThan(40);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(35);
  });

  it('an abort during the wait ends it at once', async () => {
    const controller = new AbortController();
    let runs = 0;
    setTimeout(() => controller.abort(), 20);
    const t0 = Date.now();
    await runEvery(
      60_000,
      async () => {
        runs++;
      },
      () => undefined,
      controller.signal,
    );
    expect(runs).toBe(1);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});
