import type { BucketDigest } from './item-catalog.repository';

const fingerprint = (d: BucketDigest): string => `${d.rows}:${d.hash}`;

/**
 * Finds the rows a refresh's overlap (WatermarkOverlap) missed: rows that became visible more than the
 * overlap after their watermark value (an insert held back, a distributed table's queue delivered after a
 * shard's outage, a page of a long load read after rows before the watermark arrived). The watermark
 * column is cut into buckets of `width`; a bucket's digest is kept from before a read that covered all
 * its rows, and a bucket whose digest differs now is read again. A bucket is read once when it first
 * falls behind the horizon (its rows came in through refreshes, not one read), and again on any change
 * (a merge dropping a duplicate counts: an extra read, never a missed one).
 */
export class BucketReconcile {
  private readonly known = new Map<number, string>();

  constructor(private readonly width: number) {}

  /** Keeps digests taken before a read that covered every row they count (the first, whole load). */
  seed(digests: readonly BucketDigest[]): void {
    for (const d of digests) this.known.set(d.bucket, fingerprint(d));
  }

  /**
   * Counts the buckets that end at or before `horizon` (`count(before)`: rows before that value), and
   * reads those whose digest changed again (`read(from, until)`, `until` excluded: a run of adjacent
   * buckets at a time), keeping each run's digests once its read resolved. Returns the buckets read.
   */
  async reconcile(
    horizon: number,
    count: (before: number) => Promise<BucketDigest[]>,
    read: (from: number, until: number) => Promise<unknown>,
  ): Promise<number> {
    const end = Math.floor(horizon / this.width);
    if (end <= 0) return 0;
    const now = (await count(end * this.width)).filter((d) => d.bucket < end);
    const present = new Set(now.map((d) => d.bucket));
    // A bucket whose rows are all gone (dropped by retention) has nothing to read.
    for (const b of this.known.keys()) if (b < end && !present.has(b)) this.known.delete(b);
    let reread = 0;
    for (const run of adjacentRuns(now.filter((d) => this.known.get(d.bucket) !== fingerprint(d)))) {
      await read(run[0]!.bucket * this.width, (run.at(-1)!.bucket + 1) * this.width);
      this.seed(run);
      reread += run.length;
    }
    return reread;
  }
}

/** Digests sorted by bucket, split where a bucket does not follow the one before it. */
function adjacentRuns(digests: readonly BucketDigest[]): BucketDigest[][] {
  const runs: BucketDigest[][] = [];
  for (const d of [...digests].sort((a, b) => a.bucket - b.bucket)) {
    const run = runs.at(-1);
    if (run !== undefined && run.at(-1)!.bucket + 1 === d.bucket) run.push(d);
    else runs.push([d]);
  }
  return runs;
}
