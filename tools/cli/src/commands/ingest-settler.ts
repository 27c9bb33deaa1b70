import { bucketStart, counterLayout } from '@mmctr/aggregates';
import type { FeatureRepo } from '@mmctr/feature-repo';

/** The finest bucket width of the repository's aggregate counters (0: it declares none). */
export function finestBucketMs(repo: FeatureRepo): number {
  const widths = counterLayout(repo).aggregations.flatMap((a) => a.tiers.map((t) => t.bucketMs));
  return widths.length ? Math.min(...widths) : 0;
}

export interface SettleSummary {
  bucket_ms: number;
  boundaries: number;
  timeouts: number;
  seconds: number;
}

/**
 * A request at t reads aggregates over the buckets closed by t. A replay runs event time far faster
 * than ingest's lag allows for, so at each boundary of the finest bucket it waits until ingest has
 * committed, and so counted, every event sent: the buckets then read are complete, as they are live,
 * where a minute boundary passes once a minute.
 */
export class IngestSettler {
  private settledAt = -Infinity;
  private readonly done = { boundaries: 0, timeouts: 0, ms: 0 };

  constructor(
    /** The finest bucket width (0: never waits). */
    private readonly everyMs: number,
    /** Events sent that ingest has not committed yet. */
    private readonly lag: () => Promise<number>,
    private readonly timeoutMs = 60_000,
    private readonly pollMs = 20,
  ) {}

  /** Before a request at `tsMs`: waits (up to the timeout) if it is the first past a boundary. */
  async before(tsMs: number): Promise<void> {
    if (this.everyMs === 0) return;
    const boundary = bucketStart(tsMs, this.everyMs);
    if (boundary <= this.settledAt) return;
    const started = Date.now();
    while ((await this.lag()) > 0) {
      if (Date.now() - started > this.timeoutMs) {
        this.done.timeouts++;
        break;
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
    this.done.boundaries++;
    this.done.ms += Date.now() - started;
    this.settledAt = boundary;
  }

  summary(): SettleSummary {
    const { boundaries, timeouts, ms } = this.done;
    return { bucket_ms: this.everyMs, boundaries, timeouts, seconds: ms / 1000 };
  }
}
