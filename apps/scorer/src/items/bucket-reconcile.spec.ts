import { BucketReconcile } from './bucket-reconcile';
import type { BucketDigest } from './item-catalog.repository';

describe('BucketReconcile', () => {
  const d = (bucket: number, rows: number, hash = String(rows)): BucketDigest => ({ bucket, rows, hash });
  /** Runs a reconcile over `now` (the server's digests), returning the counted bound and the ranges read. */
  const reconcile = async (r: BucketReconcile, horizon: number, now: BucketDigest[]) => {
    const counted: number[] = [];
    const reads: [number, number][] = [];
    const n = await r.reconcile(
      horizon,
      (before) => (counted.push(before), Promise.resolve(now)),
      (from, until) => (reads.push([from, until]), Promise.resolve()),
    );
    return { n, counted, reads };
  };

  it('reads nothing while the seeded digests hold, then the buckets that changed', async () => {
    const r = new BucketReconcile(10);
    r.seed([d(1, 5), d(2, 3), d(4, 1)]);
    expect(await reconcile(r, 55, [d(1, 5), d(2, 3), d(4, 1)])).toEqual({ n: 0, counted: [50], reads: [] });
    // Bucket 2 got a late row; bucket 4 has the same count with another version.
    const changed = await reconcile(r, 55, [d(1, 5), d(2, 4), d(4, 1, 'other')]);
    expect(changed).toEqual({
      n: 2,
      counted: [50],
      reads: [
        [20, 30],
        [40, 50],
      ],
    });
    expect((await reconcile(r, 55, [d(1, 5), d(2, 4), d(4, 1, 'other')])).reads).toEqual([]);
  });

  it('reads adjacent changed buckets as one range, and a bucket never counted once', async () => {
    const r = new BucketReconcile(10);
    const first = await reconcile(r, 100, [d(3, 1), d(4, 2), d(5, 1), d(8, 1)]);
    expect(first.reads).toEqual([
      [30, 60],
      [80, 90],
    ]);
    expect((await reconcile(r, 100, [d(3, 1), d(4, 2), d(5, 1), d(8, 1)])).n).toBe(0);
  });

  it('compares only buckets that end at or before the horizon', async () => {
    const r = new BucketReconcile(10);
    r.seed([d(1, 1)]);
    // Bucket 2 ends at 30, after the horizon 29: not compared, even when the count returns it.
    expect(await reconcile(r, 29, [d(1, 1), d(2, 7)])).toEqual({ n: 0, counted: [20], reads: [] });
    expect((await reconcile(r, 30, [d(1, 1), d(2, 7)])).reads).toEqual([[20, 30]]);
    expect(await reconcile(r, 9, [])).toEqual({ n: 0, counted: [], reads: [] }); // no whole bucket yet
  });

  it('keeps a digest only once its read resolved, so a failed read is read again', async () => {
    const r = new BucketReconcile(10);
    r.seed([d(1, 1)]);
    await expect(
      r.reconcile(
        50,
        () => Promise.resolve([d(1, 2)]),
        () => Promise.reject(new Error('ECONNRESET')),
      ),
    ).rejects.toThrow('ECONNRESET');
    expect((await reconcile(r, 50, [d(1, 2)])).reads).toEqual([[10, 20]]);
  });

  it('forgets a bucket whose rows are gone, and reads it if rows come back', async () => {
    const r = new BucketReconcile(10);
    r.seed([d(1, 1), d(2, 1)]);
    expect((await reconcile(r, 50, [d(2, 1)])).reads).toEqual([]); // bucket 1 dropped (retention)
    expect((await reconcile(r, 50, [d(1, 1), d(2, 1)])).reads).toEqual([[10, 20]]);
  });
});
