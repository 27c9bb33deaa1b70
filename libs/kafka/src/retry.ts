// Backoff retry shared by the consumers that store what they fetch (ingest, the score log sink): a
// failure that is not the data's fault is retried in place, never skipped.
export interface RetryOptions {
  initialMs: number;
  maxMs: number;
  /** Called before each wait, with the failure and the attempt number (1 = first failure). */
  onRetry?: (err: unknown, attempt: number, waitMs: number) => void;
  /** Stops retrying (rethrows the last error) once this returns true. */
  giveUp?: () => boolean;
  sleep?: (ms: number) => Promise<void>;
}

export const backoffMs = (attempt: number, initialMs: number, maxMs: number): number =>
  Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn` until it succeeds, waiting with exponential backoff between attempts. Ingestion never
 * drops data on a failure, so there is no attempt limit; only `giveUp` (shutdown) ends it.
 */
export async function retryForever<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const sleep = opts.sleep ?? realSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (opts.giveUp?.()) throw err;
      const wait = backoffMs(attempt, opts.initialMs, opts.maxMs);
      opts.onRetry?.(err, attempt, wait);
      await sleep(wait);
    }
  }
}
