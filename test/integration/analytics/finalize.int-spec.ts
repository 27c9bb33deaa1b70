import { bindQuery, loadMigrations, MIGRATIONS_DIR, renderMigration } from '@mmctr/clickhouse';
import { AnalyticsRepository, ITEM_HOURLY_SQL } from '../../../tools/cli/src/analytics.repository';
import { finalize } from '../../../tools/cli/src/commands/analytics-finalizer';
import { TestDatabase } from '../../support/ingest/test-database';
import { batch, ev, scoreRow, type Ev } from '../../support/analytics/analytics-rows';

// 2026-01-05 00:00:00 UTC; the events span two days.
const T0 = 1_767_571_200;
const HOUR = 3600;
/** Each rollup-backed view with its query-time twin, ordered, floats rounded past summation noise. */
const PAIRS: [string, string][] = [
  [
    'SELECT day, item_id, impressions, clicks, round(ctr, 9) AS ctr FROM daily_ctr_by_item ORDER BY day, item_id',
    'SELECT day, item_id, impressions, clicks, round(ctr, 9) AS ctr FROM daily_ctr_by_item_exact ORDER BY day, item_id',
  ],
  [
    `SELECT model_version, bucket, impressions, clicks, round(predicted_ctr, 9) AS p, round(observed_ctr, 9) AS o,
            degraded_impressions FROM score_calibration ORDER BY model_version, bucket`,
    `SELECT model_version, bucket, impressions, clicks, round(predicted_ctr, 9) AS p, round(observed_ctr, 9) AS o,
            degraded_impressions FROM score_calibration_exact ORDER BY model_version, bucket`,
  ],
  [
    'SELECT * FROM hourly_ctr_by_item ORDER BY hour, item_id',
    'SELECT * FROM hourly_ctr_by_item_exact ORDER BY hour, item_id',
  ],
  [
    'SELECT day, model_version, impressions, clicks, click_events, conversions, round(conversion_value, 6) AS v FROM daily_ctr_by_model ORDER BY day, model_version',
    'SELECT day, model_version, impressions, clicks, click_events, conversions, round(conversion_value, 6) AS v FROM daily_ctr_by_model_exact ORDER BY day, model_version',
  ],
  [
    'SELECT hour, model_version, impressions, clicks, click_events, conversions, round(conversion_value, 6) AS v FROM hourly_ctr ORDER BY hour, model_version',
    'SELECT hour, model_version, impressions, clicks, click_events, conversions, round(conversion_value, 6) AS v FROM hourly_ctr_exact ORDER BY hour, model_version',
  ],
  [
    'SELECT * FROM daily_ctr_by_category ORDER BY day, category',
    'SELECT * FROM daily_ctr_by_category_exact ORDER BY day, category',
  ],
  [
    `SELECT model_version, bucket, impressions, clicks, round(predicted_ctr, 9) AS p, round(observed_ctr, 9) AS o
     FROM score_calibration_fine ORDER BY model_version, bucket`,
    `SELECT model_version, bucket, impressions, clicks, round(predicted_ctr, 9) AS p, round(observed_ctr, 9) AS o
     FROM score_calibration_fine_exact ORDER BY model_version, bucket`,
  ],
  [
    'SELECT * FROM ingestion_health_hourly ORDER BY hour, topic',
    'SELECT * FROM ingestion_health_hourly_exact ORDER BY hour, topic',
  ],
  [
    'SELECT item_id, impressions, clicks, click_events, conversions, round(conversion_value, 6) AS v, ctr FROM ctr_by_item ORDER BY item_id',
    'SELECT item_id, impressions, clicks, click_events, conversions, round(conversion_value, 6) AS v, ctr FROM ctr_by_item_exact ORDER BY item_id',
  ],
  ...['i1', 'i2', 'i3'].map((item): [string, string] => [
    bindQuery(ITEM_HOURLY_SQL, { item }),
    bindQuery(
      'SELECT hour, impressions, clicks, ctr FROM hourly_ctr_by_item_exact WHERE item_id = {item:String} ORDER BY hour',
      { item },
    ),
  ]),
];

describe('analytics rollups: exact under redelivery and any arrival order', () => {
  const db = new TestDatabase();
  let repo: AnalyticsRepository;

  const insertEvents = (rows: Ev[]) => db.clickhouse.insert('events', rows);
  const query = (sql: string) => db.clickhouse.query<Record<string, unknown>>(sql);
  const rollupRows = () =>
    query(
      `SELECT * FROM (SELECT 'h' AS t, toString(hour) AS k, item_id, model_version, impressions, clicked, clicks, conversions
         FROM ctr_hourly WHERE (hour, version) IN (SELECT hour, max(version) FROM analytics_hours GROUP BY hour)
       UNION ALL SELECT 'd' AS t, toString(day) AS k, item_id, model_version, impressions, clicked, clicks, conversions
         FROM ctr_daily WHERE (day, version) IN (SELECT toDate(hour), max(version) FROM analytics_hours GROUP BY toDate(hour))
       UNION ALL SELECT 'hi' AS t, toString(hour) AS k, item_id, '' AS model_version, impressions, clicked, clicks, conversions
         FROM ctr_hourly_by_item WHERE (hour, version) IN (SELECT hour, max(version) FROM analytics_hours GROUP BY hour)
       UNION ALL SELECT 'mi' AS t, toString(month) AS k, item_id, '' AS model_version, impressions, clicked, clicks, conversions
         FROM ctr_monthly_by_item
         WHERE (month, version) IN (SELECT toStartOfMonth(hour), max(version) FROM analytics_hours GROUP BY toStartOfMonth(hour)))
       ORDER BY t, k, item_id, model_version`,
    );

  async function expectViewsEqualExact(): Promise<void> {
    for (const [rollup, exact] of PAIRS) {
      const [a, b] = await Promise.all([query(rollup), query(exact)]);
      expect(b.length).toBeGreaterThan(0);
      expect(a).toEqual(b);
    }
  }

  beforeAll(async () => {
    await db.create();
    await db.migrate();
    repo = new AnalyticsRepository(db.clickhouse);
    await db.clickhouse.insert('items', [
      {
        item_id: 'i1',
        ts_ms: 1,
        updated_at: 1,
        title: 'a',
        description: '',
        category: 'shoes',
        tags: [],
        image: '',
        content_hash: 'h1',
        schema_version: 1,
        ingested_at: 1,
      },
      {
        item_id: 'i2',
        ts_ms: 1,
        updated_at: 1,
        title: 'b',
        description: '',
        category: 'hats',
        tags: [],
        image: '',
        content_hash: 'h2',
        schema_version: 1,
        ingested_at: 1,
      },
      {
        item_id: 'i3',
        ts_ms: 1,
        updated_at: 1,
        title: 'c',
        description: '',
        category: 'hats',
        tags: [],
        image: '',
        content_hash: 'h3',
        schema_version: 1,
        ingested_at: 1,
      },
    ]);
  }, 60_000);

  afterAll(async () => {
    await db.drop();
  });

  it('builds rollups from scratch that equal the query-time views, with duplicates not yet merged', async () => {
    const batch1: Ev[] = [];
    const scores = [];
    for (let h = 0; h < 30; h += 3) {
      const at = T0 + h * HOUR + 60;
      const r = `r${h}`;
      batch1.push(ev('impression', at, r, 'i1'), ev('impression', at, r, 'i2'));
      if (h % 2 === 0) batch1.push(ev('impression', at + 5, r, 'i3'));
      scores.push(
        scoreRow(
          r,
          at - 1,
          h < 12 ? 'm1' : 'm2',
          ['i1', 'i2', 'i3'],
          [0.031, 0.5, 0.97],
          h % 9 === 0 ? 1 : 0,
        ),
      );
    }
    // A click stored before its impression (batch 2 then batch 3), clicks in later batches and hours.
    const early = ev('click', T0 + 26 * HOUR, 'r-early', 'i2');
    await insertEvents([early]);
    await insertEvents(batch1);
    await insertEvents([ev('impression', T0 + 25 * HOUR, 'r-early', 'i2')]);
    await db.clickhouse.insert('score_log', scores);
    await insertEvents([
      ev('click', T0 + 0 * HOUR + 300, 'r0', 'i1'),
      ev('click', T0 + 0 * HOUR + 400, 'r0', 'i1'),
      ev('click', T0 + 4 * HOUR, 'r3', 'i2'),
      ev('conversion', T0 + 5 * HOUR, 'r3', 'i2', 12.5),
      ev('click', T0 + 24 * HOUR + 200, 'r24', 'i3'),
    ]);
    // Redelivery: the same events again, stored as new rows until a merge collapses them.
    await insertEvents(batch1.slice(0, 8).map((e) => ({ ...e, ingested_at: e.ingested_at + 1 })));
    await db.clickhouse.insert('score_log', scores.slice(0, 3));
    // Ingest batches of two topics over three hours; one logged twice (a batch redelivered after a crash
    // is stored and logged again: both views count it twice).
    const batches = [
      batch(T0 + 60, 'events', 100, 2, 30, 900),
      batch(T0 + 120, 'events', 50, 0, 10, 400),
      batch(T0 + 120, 'items', 7, 1, 5, 100),
      batch(T0 + 5 * HOUR, 'events', 80, 0, 12, 2500),
    ];
    await db.clickhouse.insert('ingest_batches', [...batches, batches[3]!]);

    // Before any finalize the views are all open tail, read at query time.
    await expectViewsEqualExact();
    const result = await finalize(repo, { toS: T0 + 2 * 86_400 });
    expect(result.hours).toBeGreaterThan(0);
    expect(result.watermark).toBe(T0 + 27 * HOUR + 3600);
    expect(result.ingestHours).toBe(2);
    await expectViewsEqualExact();
  }, 60_000);

  it('a second finalize changes nothing', async () => {
    const before = await rollupRows();
    await finalize(repo, { toS: T0 + 2 * 86_400 });
    expect(await rollupRows()).toEqual(before);
    await expectViewsEqualExact();
    // Once merges settle, a run with nothing new stored finds no dirty hour.
    await db.command(`OPTIMIZE TABLE ${db.name}.events FINAL`);
    await db.command(`OPTIMIZE TABLE ${db.name}.score_log FINAL`);
    await finalize(repo, { toS: T0 + 2 * 86_400 });
    const settled = await rollupRows();
    expect(settled).toEqual(before);
    const again = await finalize(repo, { toS: T0 + 2 * 86_400 });
    expect(again.hours).toBe(0);
    expect(again.ingestHours).toBe(0);
    expect(await rollupRows()).toEqual(settled);
  }, 60_000);

  it('late impressions, late clicks for finalized hours and late scores: equal again after finalize', async () => {
    // Late data for hours already finalized: an impression, a click (stored in a later hour) for an
    // impression of hour 6, a redelivered click, and a score for a request not scored before.
    await insertEvents([
      ev('impression', T0 + 6 * HOUR + 900, 'r-late', 'i1'),
      ev('click', T0 + 20 * HOUR, 'r6', 'i1'),
      ev('impression', T0 + 9 * HOUR + 50, 'r-unscored', 'i3'),
    ]);
    const [oldClick] = await query(
      `SELECT * FROM events FINAL WHERE type = 'click' AND request_id = 'r0' LIMIT 1`,
    );
    await insertEvents([{ ...(oldClick as unknown as Ev), ingested_at: Math.floor(Date.now() / 1000) + 5 }]);
    await db.clickhouse.insert('score_log', [scoreRow('r-late', T0 + 6 * HOUR + 899, 'm1', ['i1'], [0.2])]);
    // A batch logged late for a rolled-up hour: that hour is rolled up again.
    await db.clickhouse.insert('ingest_batches', [batch(T0 + 3000, 'items', 3, 3, 8, 50)]);
    const result = await finalize(repo, { toS: T0 + 2 * 86_400 });
    expect(result.ingestHours).toBe(1);
    // Hours 6 (the late impression and its score), 9 (late impression), 20 (the click's own hour), 0 (the
    // redelivered click), and nothing else.
    expect(result.hours).toBe(4);
    await expectViewsEqualExact();
  }, 60_000);

  it('hours after the watermark are read at query time and still equal the exact views', async () => {
    // New data after the watermark, then a finalize that stops before it: the open tail answers.
    await insertEvents([
      ev('impression', T0 + 40 * HOUR, 'r40', 'i1'),
      ev('impression', T0 + 41 * HOUR, 'r41', 'i2'),
      ev('click', T0 + 41 * HOUR + 30, 'r41', 'i2'),
      ev('click', T0 + 27 * HOUR + 100, 'r27', 'i1'), // a click for the last finalized hour
    ]);
    await db.clickhouse.insert('score_log', [scoreRow('r41', T0 + 41 * HOUR, 'm2', ['i2'], [0.4])]);
    // Redelivered into the open tail: an impression, its click and its score, stored twice.
    const tail = [
      ev('impression', T0 + 42 * HOUR, 'r42', 'i3'),
      ev('click', T0 + 42 * HOUR + 9, 'r42', 'i3'),
    ];
    await insertEvents(tail);
    await insertEvents(tail);
    const score42 = scoreRow('r42', T0 + 42 * HOUR - 1, 'm1', ['i3'], [0.61], 1);
    await db.clickhouse.insert('score_log', [score42]);
    await db.clickhouse.insert('score_log', [score42]);
    // Batches after the last rolled-up hour are read at query time.
    await db.clickhouse.insert('ingest_batches', [batch(T0 + 41 * HOUR, 'events', 9, 0, 4, 70)]);
    await expect(query('SELECT count() AS n FROM impression_outcomes_open')).resolves.toEqual([{ n: '3' }]);
    // Finalized hour 27 does not see its late click until the next finalize ...
    const stale = await query(
      "SELECT clicks FROM daily_ctr_by_item WHERE item_id = 'i1' AND day = toDate(toDateTime(" +
        (T0 + 27 * HOUR) +
        '))',
    );
    const exact = await query(
      "SELECT clicks FROM daily_ctr_by_item_exact WHERE item_id = 'i1' AND day = toDate(toDateTime(" +
        (T0 + 27 * HOUR) +
        '))',
    );
    expect(Number(exact[0]!.clicks)).toBe(Number(stale[0]!.clicks) + 1);
    // ... and does after it (the watermark stays: hour 40 on is not due yet).
    const result = await finalize(repo, { toS: T0 + 40 * HOUR });
    expect(result.watermark).toBe(T0 + 28 * HOUR);
    await expectViewsEqualExact();
    await expect(query('SELECT count() AS n FROM impression_outcomes_open')).resolves.toEqual([{ n: '3' }]);
  }, 60_000);

  it("migration 0015's backfill rebuilds the per-item rollups of hours finalized before it, once", async () => {
    const before = await rollupRows();
    const [m15] = loadMigrations(MIGRATIONS_DIR).filter((m) => m.version === 15);
    const backfill = renderMigration(m15!, db.name).filter((s) => s.startsWith('INSERT'));
    expect(backfill).toHaveLength(2);
    await db.command(`TRUNCATE TABLE ${db.name}.ctr_hourly_by_item`);
    await db.command(`TRUNCATE TABLE ${db.name}.ctr_monthly_by_item`);
    for (const statement of [...backfill, ...backfill]) await db.command(statement);
    expect(await rollupRows()).toEqual(before);
    await expectViewsEqualExact();
  }, 60_000);

  it('refuses --from when an earlier hour with events was never finalized', async () => {
    await insertEvents([ev('impression', T0 - 10 * HOUR, 'r-old', 'i1')]);
    await expect(finalize(repo, { fromS: T0, toS: T0 + 40 * HOUR })).rejects.toThrow(/never finalized/);
    const result = await finalize(repo, { toS: T0 + 40 * HOUR });
    expect(result.hours).toBe(1);
    await expectViewsEqualExact();
  }, 60_000);
});
