import { parseFeatureRepo } from '@mmctr/feature-repo';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IngestSettler, finestBucketMs } from './ingest-settler';

const M = 60_000;
const T0 = 1767225600000; // 2026-01-01T00:00:00Z

const repoAt = (path: string) =>
  parseFeatureRepo(JSON.parse(readFileSync(join(__dirname, '..', '..', '..', '..', path), 'utf8')));

describe('finestBucketMs', () => {
  it('is the finest counter bucket of the repository, 0 without aggregations', () => {
    expect(finestBucketMs(repoAt('feature-repos/demo-aggregates/repo.json'))).toBe(M);
    expect(finestBucketMs(repoAt('feature-repos/demo/repo.json'))).toBe(0);
  });
});

describe('IngestSettler', () => {
  /** A lag that reads `lags` in turn (then 0), counting the reads. */
  function lagOf(...lags: number[]) {
    const read = { n: 0 };
    return { read, lag: async () => lags[read.n++] ?? 0 };
  }

  it('waits for ingest to catch up once per boundary of the bucket, before the first request past it', async () => {
    const { read, lag } = lagOf(3, 1, 0);
    const settler = new IngestSettler(M, lag, 5_000, 1);
    await settler.before(T0 + 10);
    expect(read.n).toBe(3); // polled until the lag read 0
    await settler.before(T0 + M - 1); // same bucket: no wait
    expect(read.n).toBe(3);
    await settler.before(T0 + M);
    expect(read.n).toBe(4);
    await settler.before(T0 + 5 * M + 3);
    expect(read.n).toBe(5);
    expect(settler.summary()).toMatchObject({ bucket_ms: M, boundaries: 3, timeouts: 0 });
  });

  it('gives up after its timeout and counts it', async () => {
    const settler = new IngestSettler(M, async () => 1, 30, 5);
    await settler.before(T0);
    expect(settler.summary()).toMatchObject({ boundaries: 1, timeouts: 1 });
  });

  it('never reads the lag when the repository declares no aggregations', async () => {
    const { read, lag } = lagOf(5);
    const settler = new IngestSettler(0, lag);
    await settler.before(T0);
    expect(read.n).toBe(0);
    expect(settler.summary().boundaries).toBe(0);
  });
});
