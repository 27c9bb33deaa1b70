import { setTimeout as sleep } from 'node:timers/promises';

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000 };

/** A duration such as `90s`, `5m` or `1h`, in milliseconds. */
export function parseDuration(flag: string, value: string): number {
  const m = /^(\d+)(s|m|h)$/.exec(value.trim());
  const ms = m ? Number(m[1]) * UNITS[m[2]!]! : 0;
  if (!ms) throw new Error(`--${flag} must be a positive duration such as 30s, 5m or 1h, got '${value}'`);
  return ms;
}

/**
 * Runs `task` now and then every `intervalMs` (measured from the start of each run; a run that takes
 * longer is followed at once by the next) until `signal` aborts, which ends the wait, never a run. A
 * failed run is reported to `onError` and the schedule goes on: the next run retries what it left.
 */
export async function runEvery(
  intervalMs: number,
  task: () => Promise<void>,
  onError: (err: Error) => void,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    const started = Date.now();
    await task().catch(onError);
    const wait = started + intervalMs - Date.now();
    if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
  }
}
