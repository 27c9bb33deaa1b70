import { percentile } from '@mmctr/observability';

/** p50 and p99 in ms of `n` awaited calls of `fn`, after `warm` untimed ones. */
export async function timeRuns(fn: () => Promise<unknown>, warm: number, n: number) {
  for (let i = 0; i < warm; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99) };
}
