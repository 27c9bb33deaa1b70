import { backoffMs, retryForever } from './retry';

describe('retryForever', () => {
  it('backs off exponentially up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffMs(a, 200, 5_000))).toEqual([
      200, 400, 800, 1600, 3200, 5000,
    ]);
  });

  it('retries until the call succeeds, reporting each failure', async () => {
    let calls = 0;
    const waits: number[] = [];
    const result = await retryForever(
      async () => {
        if (++calls < 4) throw new Error(`fail ${calls}`);
        return 'ok';
      },
      { initialMs: 10, maxMs: 25, sleep: async (ms) => void waits.push(ms), onRetry: () => undefined },
    );
    expect(result).toBe('ok');
    expect(waits).toEqual([10, 20, 25]);
  });

  it('rethrows once giveUp says so', async () => {
    let calls = 0;
    await expect(
      retryForever(
        async () => {
          calls++;
          throw new Error('down');
        },
        { initialMs: 1, maxMs: 1, sleep: async () => undefined, giveUp: () => calls >= 3 },
      ),
    ).rejects.toThrow('down');
    expect(calls).toBe(3);
  });
});
