import { AnalyticsRepository } from '../../../tools/cli/src/analytics.repository';
import { finalize } from '../../../tools/cli/src/commands/analytics-finalizer';
import type { RetentionPlan } from '../../../tools/cli/src/commands/retention-plan';
import { RetentionRepository } from '../../../tools/cli/src/retention.repository';
import { batch, ev, scoreRow } from '../../support/analytics/analytics-rows';
import { mmctrCli } from '../../support/mmctr-cli';
import { TestDatabase } from '../../support/ingest/test-database';

const DAY = 86_400;
const NOW = Math.floor(Date.now() / 1000);
// Noon of whole days before today (UTC, the local server's zone), so each lands in one day partition.
const dayAgo = (n: number) => Math.floor(NOW / DAY) * DAY - n * DAY + 12 * 3600;
const OLD = [dayAgo(40), dayAgo(38)];
// Whatever the time of day, keeping 39 days drops OLD[0]'s partition and keeps OLD[1]'s.
const KEEP = ['--keep-days', '30', '--keep', 'events=39', '--keep', 'ingest_batches=39'];
const RECENT = dayAgo(1);

describe('retention: day partitions dropped on the real server', () => {
  const db = new TestDatabase();
  let analytics: AnalyticsRepository;
  let retention: RetentionRepository;
  const env = () => ({ CLICKHOUSE_DATABASE: db.name });
  const cli = (args: string[]) => mmctrCli(['retention', ...args], env());
  const count = async (table: string) =>
    Number((await db.clickhouse.query<{ n: string }>(`SELECT count() AS n FROM ${table}`))[0]!.n);
  const rollups = () =>
    db.clickhouse.query(
      `SELECT hour, item_id, model_version, impressions, clicked, clicks FROM ctr_hourly
       WHERE (hour, version) IN (SELECT hour, max(version) FROM analytics_hours GROUP BY hour)
       ORDER BY hour, item_id, model_version`,
    );

  beforeAll(async () => {
    await db.create();
    await db.migrate();
    analytics = new AnalyticsRepository(db.clickhouse);
    retention = new RetentionRepository(db.clickhouse, db.name);
    for (const [i, at] of [...OLD, RECENT].entries()) {
      await db.clickhouse.insert('events', [
        ev('impression', at, `r${i}`, 'i1'),
        ev('impression', at, `r${i}`, 'i2'),
        ev('click', at + 60, `r${i}`, 'i1'),
      ]);
      await db.clickhouse.insert('score_log', [scoreRow(`r${i}`, at, 'm1', ['i1', 'i2'], [0.2, 0.1])]);
      await db.clickhouse.insert('ingest_batches', [batch(at, 'events', 3, 0, 5, 100)]);
    }
  }, 60_000);

  afterAll(async () => {
    await db.drop();
  });

  it('lists each day partition with its rows and newest event', async () => {
    const parts = await retention.partitions('events');
    expect(parts.map((p) => [p.rows, p.newestS])).toEqual([
      [3, OLD[0]! + 60],
      [3, OLD[1]! + 60],
      [3, RECENT + 60],
    ]);
    expect(parts.every((p) => /^\d{8}$/.test(p.partitionId) && p.bytes > 0)).toBe(true);
  });

  it('refuses to drop hours the analytics rollups have not finalized, and changes nothing', async () => {
    await expect(cli(['apply', '--keep-days', '30'])).rejects.toThrow(
      /refused: events, score_log: the drop freezes the analytics rollups before \S+, and 2 hour\(s\) there are not finalized/,
    );
    expect(await count('events')).toBe(9);
    expect(await retention.dropped()).toEqual([]);
  });

  it('refuses to keep fewer days of events than the longest aggregate window', async () => {
    const repo = 'feature-repos/demo-aggregates';
    await expect(cli(['plan', '--keep-days', '1', '--repo', repo])).rejects.toThrow(
      /refused: events: keeping 1 days is shorter than the aggregation '[a-z_]+' window/,
    );
  });

  it('drops what is older than the days kept, records it, and leaves finalized rollups as they were', async () => {
    await finalize(analytics, { toS: NOW });
    // A click stored late, after its hour was finalized: the drop would freeze that hour without it.
    await db.clickhouse.insert('events', [ev('click', OLD[0]! + 120, 'r0', 'i2')]);
    await expect(cli(['apply', ...KEEP])).rejects.toThrow(
      /refused: events, score_log: .* and 1 hour\(s\) there are not finalized \(the first /,
    );
    expect(await retention.dropped()).toEqual([]);
    await finalize(analytics, { toS: NOW });
    const before = await rollups();
    expect(before.length).toBeGreaterThan(0);

    const plan = JSON.parse(await cli(['plan', ...KEEP, '--json'])) as RetentionPlan;
    expect(plan.tables.map((t) => [t.table, t.drop.length, t.keep.length])).toEqual([
      ['events', 1, 2],
      ['score_log', 2, 1],
      ['ingest_batches', 1, 2],
    ]);
    expect(await count('events')).toBe(10); // plan changes nothing

    await cli(['apply', ...KEEP]);
    expect(await count('events')).toBe(6);
    expect(await count('score_log')).toBe(1);
    expect(await count('ingest_batches')).toBe(2);
    const dropped = await retention.dropped();
    expect(dropped.map((d) => [d.table, d.rows])).toEqual([
      ['events', 4],
      ['ingest_batches', 1],
      ['score_log', 1],
      ['score_log', 1],
    ]);

    // OLD[1]'s hour lost its score log but kept its events: it looks changed to the finalizer, which would
    // rebuild its rollups without the model's scores. It is frozen instead, as is the day after it (the
    // lookback); a forced finalize recomputes only the hours after that.
    const hour = Math.floor(OLD[1]! / 3600) * 3600;
    expect((await analytics.signatures(NOW)).find((s) => s.hour === hour)?.scoreRows).toBe(0);
    expect((await analytics.ledger()).find((l) => l.hour === hour)?.scoreRows).toBe(1);
    expect((await finalize(analytics, { toS: NOW })).hours).toBe(0);
    const result = await finalize(analytics, { toS: NOW, force: true });
    expect(result.frozenBefore).toBe(Math.floor(OLD[1]! / DAY) * DAY + DAY + DAY);
    expect(result.hours).toBeGreaterThan(0);
    expect(await rollups()).toEqual(before);

    // A second apply finds nothing more to drop.
    await cli(['apply', ...KEEP]);
    expect(await retention.dropped()).toHaveLength(4);
  }, 120_000);
});
