import { DEFAULT_FEATURE_REPO_PATH, loadFeatureRepo } from '@mmctr/feature-repo';
import { join } from 'node:path';
import type { PartitionInfo } from '../retention.repository';
import {
  keepDaysPerTable,
  newestSourceDropS,
  planRetention,
  retentionTables,
  unfinalizedRefusal,
} from './retention-plan';

const DAY = 86_400;
const NOW = 1_780_000_000;
const demo = loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH);
const withAggregates = loadFeatureRepo(join(DEFAULT_FEATURE_REPO_PATH, '..', 'demo-aggregates'));
const TABLES = retentionTables(demo);

/** A partition whose newest event is `daysAgo` days before NOW. */
const part = (id: string, daysAgo: number): PartitionInfo => ({
  partitionId: id,
  rows: 10,
  bytes: 1000,
  newestS: NOW - daysAgo * DAY,
});
const partitions = new Map([
  ['events', [part('a', 40), part('b', 30.5), part('c', 29.5), part('d', 0)]],
  ['score_log', [part('a', 40)]],
  ['ingest_batches', [part('a', 40)]],
]);

describe('retention plan', () => {
  it('trims the events table, the score log and the ingest ledger, never entity snapshots', () => {
    expect(TABLES).toEqual(['events', 'score_log', 'ingest_batches']);
    expect(retentionTables({ ...demo, events_table: 'clicks_and_views' })[0]).toBe('clicks_and_views');
  });

  it('reads --keep-days for every table and --keep per table, refusing bad values by flag', () => {
    expect([...keepDaysPerTable(TABLES, '30', ['score_log=7'])]).toEqual([
      ['events', 30],
      ['score_log', 7],
      ['ingest_batches', 30],
    ]);
    expect([...keepDaysPerTable(TABLES, undefined, ['score_log=7'])]).toEqual([['score_log', 7]]);
    expect(() => keepDaysPerTable(TABLES, undefined, [])).toThrow(/--keep-days <n> and\/or --keep/);
    expect(() => keepDaysPerTable(TABLES, '0', [])).toThrow(
      /--keep-days must be a whole number of days ≥ 1, got '0'/,
    );
    expect(() => keepDaysPerTable(TABLES, '1.5', [])).toThrow(/--keep-days/);
    expect(() => keepDaysPerTable(TABLES, '3', ['items=3'])).toThrow(
      /--keep items: not a table retention trims \(events, score_log, ingest_batches\)/,
    );
    expect(() => keepDaysPerTable(TABLES, '3', ['events'])).toThrow(
      /--keep takes <table>=<days>, got 'events'/,
    );
    expect(() => keepDaysPerTable(TABLES, '3', ['events=x'])).toThrow(/--keep events must be a whole number/);
  });

  it('drops a partition only once its newest event is older than the days kept', () => {
    const plan = planRetention({
      repo: demo,
      keepDays: new Map([['events', 30]]),
      partitions,
      nowS: NOW,
    });
    expect(plan.refusals).toEqual([]);
    expect(plan.tables).toHaveLength(1);
    const [events] = plan.tables;
    expect(events!.cutoffS).toBe(NOW - 30 * DAY);
    expect(events!.drop.map((p) => p.partitionId)).toEqual(['a', 'b']);
    expect(events!.keep.map((p) => p.partitionId)).toEqual(['c', 'd']);
  });

  it('refuses a drop that would freeze analytics hours not finalized yet', () => {
    const plan = planRetention({
      repo: demo,
      keepDays: new Map([
        ['events', 35],
        ['score_log', 30],
        ['ingest_batches', 1],
      ]),
      partitions,
      nowS: NOW,
    });
    // ingest_batches is not an analytics source: its newer partition does not count.
    expect(newestSourceDropS(plan)).toBe(NOW - 40 * DAY);
    const frozenBefore = NOW - 38 * DAY;
    expect(unfinalizedRefusal(plan, frozenBefore, [])).toBeUndefined();
    expect(unfinalizedRefusal(plan, frozenBefore, [frozenBefore, NOW - 3600])).toBeUndefined();
    const refusal = unfinalizedRefusal(plan, frozenBefore, [frozenBefore - 7200, frozenBefore - 3600, NOW]);
    expect(refusal).toMatch(
      /^events, score_log: the drop freezes the analytics rollups before \S+, and 2 hour\(s\) there are not finalized/,
    );
    expect(refusal).toMatch(/mmctr analytics finalize/);
    expect(
      newestSourceDropS(
        planRetention({ repo: demo, keepDays: new Map([['ingest_batches', 1]]), partitions, nowS: NOW }),
      ),
    ).toBeUndefined();
  });

  it('refuses to keep fewer days of events than the longest aggregate window', () => {
    const inputs = { repo: withAggregates, partitions, nowS: NOW };
    const refusals = planRetention({ ...inputs, keepDays: new Map([['events', 6]]) }).refusals;
    expect(refusals).toEqual([
      expect.stringMatching(/^events: keeping 6 days is shorter than the aggregation '\w+' window 7d/),
    ]);
    expect(planRetention({ ...inputs, keepDays: new Map([['events', 7]]) }).refusals).toEqual([]);
    // Other tables are not bound by it.
    expect(planRetention({ ...inputs, keepDays: new Map([['score_log', 1]]) }).refusals).toEqual([]);
  });
});
