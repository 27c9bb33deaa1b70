import { clickHouseFromConfig, type ClickHouseService } from '@mmctr/clickhouse';
import type { AppConfig } from '@mmctr/config';

/** What was stored for one hour of event time: rows (duplicates included) and the newest ingested_at. */
export interface HourSignature {
  /** Unix seconds of the hour's start. */
  hour: number;
  /** Unix seconds of the start of the hour's day (server time zone). */
  day: number;
  eventRows: number;
  eventMaxIngestedAt: number;
  scoreRows: number;
  scoreMaxIngestedAt: number;
}

export interface LedgerHour extends HourSignature {
  version: number;
}

/** The tables the rollups are computed from (migrations/0010): retention may trim them only once finalized. */
export const ANALYTICS_SOURCES: readonly string[] = ['events', 'score_log'];

/**
 * Lookback for clicks, conversions and scores before the hours being finalized: outcomes and scores
 * timestamped more than this before their impression's day are not attributed (the exactness contract
 * of docs/schema.md). Partition pruning keeps each finalize to the days it needs.
 */
export const LOOKBACK_S = 86_400;

/**
 * One item's CTR by hour (`{item:String}`), equal to `hourly_ctr_by_item` filtered on the item: the
 * finalized hours read by the rollup's sorting key, the open tail at query time. A view cannot serve this
 * cheaply on 18.16, which does not push the item filter into it.
 */
export const ITEM_HOURLY_SQL = `
  SELECT hour, sum(imps) AS impressions, sum(clk) AS clicks, clicks / impressions AS ctr
  FROM
  (
    SELECT hour, impressions AS imps, clicked AS clk
    FROM ctr_hourly_by_item
    WHERE item_id = {item:String}
      AND (hour, version) IN (SELECT hour, max(version) FROM analytics_hours GROUP BY hour)
    UNION ALL
    SELECT toStartOfHour(event_time) AS hour, toUInt64(1) AS imps, toUInt64(clicked) AS clk
    FROM impression_outcomes_open
    WHERE item_id = {item:String}
  )
  GROUP BY hour ORDER BY hour`;

/** Hours are frozen up to the end of the day of `newest` (server time zone), and through the lookback after it. */
const FROZEN_AFTER = (newest: string) => `toUInt32(toStartOfDay(${newest})) + 86400 + {lookback:UInt32}`;

interface SignatureRow {
  hour: string;
  day: string;
  rows: string;
  max_ingested_at: string;
}

/** The analytics rollups' reads and writes (migrations/0010_analytics_rollups.sql). */
export class AnalyticsRepository {
  constructor(private readonly clickhouse: ClickHouseService) {}

  static fromConfig(config: AppConfig): AnalyticsRepository {
    return new AnalyticsRepository(clickHouseFromConfig(config));
  }

  /** Per hour before `toS`: events and score_log rows stored (unmerged duplicates count) and newest ingested_at. */
  async signatures(toS: number): Promise<HourSignature[]> {
    const read = (table: string): Promise<SignatureRow[]> =>
      this.clickhouse.query<SignatureRow>(
        `SELECT toUInt32(toStartOfHour(event_time)) AS hour, toUInt32(toStartOfDay(event_time)) AS day,
                count() AS rows, toUInt32(max(ingested_at)) AS max_ingested_at
         FROM ${table} WHERE event_time < toDateTime({to:UInt32}) GROUP BY hour, day`,
        { to: toS },
      );
    const [events, scores] = await Promise.all([read('events'), read('score_log')]);
    const byHour = new Map<number, HourSignature>();
    const at = (r: SignatureRow): HourSignature => {
      const hour = Number(r.hour);
      let s = byHour.get(hour);
      if (!s) {
        s = {
          hour,
          day: Number(r.day),
          eventRows: 0,
          eventMaxIngestedAt: 0,
          scoreRows: 0,
          scoreMaxIngestedAt: 0,
        };
        byHour.set(hour, s);
      }
      return s;
    };
    for (const r of events)
      Object.assign(at(r), { eventRows: Number(r.rows), eventMaxIngestedAt: Number(r.max_ingested_at) });
    for (const r of scores)
      Object.assign(at(r), { scoreRows: Number(r.rows), scoreMaxIngestedAt: Number(r.max_ingested_at) });
    return [...byHour.values()].sort((a, b) => a.hour - b.hour);
  }

  /**
   * Unix seconds before which hours are frozen (0 when none is): `mmctr retention apply` dropped events or
   * score_log partitions up to the end of the day before it, and recomputing an hour there, or the day
   * after it (LOOKBACK_S), would build its rollups from what is left.
   */
  async frozenBeforeS(): Promise<number> {
    const [row] = await this.clickhouse.query<{ before: string }>(
      `SELECT if(count() = 0, 0, ${FROZEN_AFTER('max(newest_event_time)')}) AS before
       FROM retention_log WHERE has({sources:Array(String)}, table_name)`,
      { lookback: LOOKBACK_S, sources: [...ANALYTICS_SOURCES] },
    );
    return Number(row?.before ?? 0);
  }

  /** What `frozenBeforeS` becomes once a partition of an analytics source whose newest event is at `newestS` goes. */
  async frozenBeforeAfterDropS(newestS: number): Promise<number> {
    const [row] = await this.clickhouse.query<{ before: string }>(
      `SELECT ${FROZEN_AFTER('toDateTime({newest:UInt32})')} AS before`,
      { lookback: LOOKBACK_S, newest: newestS },
    );
    if (!row) throw new Error('frozenBeforeAfterDropS: the server answered no row');
    return Number(row.before);
  }

  /** The current (newest) ledger row of every finalized hour. */
  async ledger(): Promise<LedgerHour[]> {
    const rows = await this.clickhouse.query<Record<string, string>>(
      `SELECT toUInt32(hour) AS h, toUInt32(toStartOfDay(hour)) AS d, max(version) AS v,
              argMax(event_rows, version) AS event_rows, toUInt32(argMax(event_max_ingested_at, version)) AS event_max,
              argMax(score_rows, version) AS score_rows, toUInt32(argMax(score_max_ingested_at, version)) AS score_max
       FROM analytics_hours GROUP BY hour ORDER BY h`,
    );
    return rows.map((r) => ({
      hour: Number(r.h),
      day: Number(r.d),
      version: Number(r.v),
      eventRows: Number(r.event_rows),
      eventMaxIngestedAt: Number(r.event_max),
      scoreRows: Number(r.score_rows),
      scoreMaxIngestedAt: Number(r.score_max),
    }));
  }

  /**
   * Hours (before `toS`) of impressions whose clicks, conversions or scores were stored in `eventHours` /
   * `scoreHours`: a late outcome or score changes its impression's hour, not only its own.
   */
  async linkedImpressionHours(eventHours: number[], scoreHours: number[], toS: number): Promise<number[]> {
    const out = new Set<number>();
    if (eventHours.length) {
      const rows = await this.clickhouse.query<{ hour: string }>(
        `SELECT DISTINCT toUInt32(toStartOfHour(event_time)) AS hour FROM events
         WHERE type = 'impression' AND event_time < toDateTime({to:UInt32})
           AND (request_id, item_id) IN (
             SELECT request_id, item_id FROM events
             WHERE type != 'impression' AND has({hours:Array(UInt32)}, toUInt32(toStartOfHour(event_time))))`,
        { to: toS, hours: eventHours },
      );
      for (const r of rows) out.add(Number(r.hour));
    }
    if (scoreHours.length) {
      const rows = await this.clickhouse.query<{ hour: string }>(
        `SELECT DISTINCT toUInt32(toStartOfHour(event_time)) AS hour FROM events
         WHERE type = 'impression' AND event_time < toDateTime({to:UInt32})
           AND request_id IN (
             SELECT request_id FROM score_log WHERE has({hours:Array(UInt32)}, toUInt32(toStartOfHour(event_time))))`,
        { to: toS, hours: scoreHours },
      );
      for (const r of rows) out.add(Number(r.hour));
    }
    return [...out].sort((a, b) => a - b);
  }

  /**
   * Recomputes `hours` (all in the day starting at `dayS`) from events FINAL under `version` (new: no
   * other day is written under it), rebuilds the day's daily rows and its month's, then records the hours
   * in the ledger in one insert: readers switch to the new version only then. Rerunning with a newer
   * version replaces the same hours.
   */
  async finalizeDay(dayS: number, hours: HourSignature[], version: number): Promise<void> {
    const hourList = hours.map((h) => h.hour);
    const from = Math.min(...hourList);
    const to = Math.max(...hourList) + 3600;
    const params = { from, to, lookback: Math.max(from - LOOKBACK_S, 0), hours: hourList, version };
    // Impressions from their own hours (FINAL over the day's partition); their outcomes and scores looked
    // up only for those impressions (so PREWHERE skips the rest) and de-duplicated by event_id / request_id,
    // which is what FINAL would collapse: a redelivered event or score row is the same row.
    const shownKeys = `SELECT request_id, item_id FROM events
      WHERE type = 'impression' AND event_time >= toDateTime({from:UInt32}) AND event_time < toDateTime({to:UInt32})
        AND has({hours:Array(UInt32)}, toUInt32(toStartOfHour(event_time)))`;
    // Each impression's clicks and conversions, de-duplicated by event_id.
    const outcomes = `
      SELECT request_id, item_id, countIf(type = 'click') AS clicks, countIf(type = 'conversion') AS conversions,
             sumIf(value, type = 'conversion') AS conversion_value
      FROM
      (
        SELECT request_id, item_id, type, value FROM events
        WHERE type != 'impression' AND event_time >= toDateTime({lookback:UInt32})
          AND (request_id, item_id) IN (${shownKeys})
        LIMIT 1 BY event_id
      )
      GROUP BY request_id, item_id`;
    // What the scorer answered for those requests, a row per scored item.
    const served = `
      SELECT request_id, item_id, model_version, ctr, degraded, toUInt8(1) AS scored
      FROM
      (
        SELECT request_id, model_version, item_ids, ctrs, degraded FROM score_log
        WHERE event_time >= toDateTime({lookback:UInt32})
          AND request_id IN (SELECT request_id FROM (${shownKeys}))
        LIMIT 1 BY request_id
      )
      ARRAY JOIN item_ids AS item_id, ctrs AS ctr`;
    const labeled = `
      SELECT event_time, item_id, clicks, clicked, conversions, conversion_value, model_version, ctr, degraded, scored
      FROM
      (
        SELECT event_time, item_id, request_id, clicks, toUInt8(clicks > 0) AS clicked, conversions, conversion_value
        FROM
        (
          SELECT event_time, item_id, request_id FROM events FINAL
          WHERE type = 'impression' AND event_time >= toDateTime({from:UInt32}) AND event_time < toDateTime({to:UInt32})
            AND has({hours:Array(UInt32)}, toUInt32(toStartOfHour(event_time)))
        ) AS shown
        ANY LEFT JOIN (${outcomes}) AS outcomes USING (request_id, item_id)
      ) AS labeled
      ANY LEFT JOIN (${served}) AS served USING (request_id, item_id)`;
    await this.clickhouse.command(
      `INSERT INTO ctr_hourly (hour, item_id, model_version, impressions, clicked, clicks, conversions, conversion_value, version)
       SELECT toStartOfHour(event_time) AS hour, item_id, model_version, count(), sum(clicked), sum(clicks),
              sum(conversions), sum(conversion_value), toUInt64({version:UInt64})
       FROM (${labeled}) GROUP BY hour, item_id, model_version`,
      params,
    );
    await this.clickhouse.command(
      `INSERT INTO calibration_hourly (hour, model_version, bucket, bucket50, impressions, clicked, sum_ctr, degraded, version)
       SELECT toStartOfHour(event_time) AS hour, model_version, toUInt8(least(floor(ctr * 20), 19)) AS bucket,
              toUInt8(least(floor(ctr * 50), 25)) AS bucket50, count(), sum(clicked), sum(ctr), sum(degraded),
              toUInt64({version:UInt64})
       FROM (${labeled}) WHERE scored = 1 GROUP BY hour, model_version, bucket, bucket50`,
      params,
    );
    // The same hours summed per model (CTR-over-time charts) and per item (sorted by item_id, hour).
    for (const [table, key] of [
      ['ctr_hourly_by_model', 'model_version'],
      ['ctr_hourly_by_item', 'item_id'],
    ] as const) {
      await this.clickhouse.command(
        `INSERT INTO ${table} (hour, ${key}, impressions, clicked, clicks, conversions, conversion_value, version)
         SELECT hour, ${key}, sum(impressions), sum(clicked), sum(clicks), sum(conversions), sum(conversion_value),
                toUInt64({version:UInt64})
         FROM ctr_hourly
         WHERE hour >= toDateTime({from:UInt32}) AND hour < toDateTime({to:UInt32}) AND version = {version:UInt64}
         GROUP BY hour, ${key}`,
        params,
      );
    }
    // The day's rows from its finalized hours: this run's version for the hours just written, the
    // ledger's current version for the others.
    await this.clickhouse.command(
      `INSERT INTO ctr_daily (day, item_id, model_version, impressions, clicked, clicks, conversions, conversion_value, version)
       SELECT toDate(hour) AS day, item_id, model_version, sum(impressions), sum(clicked), sum(clicks), sum(conversions),
              sum(conversion_value), toUInt64({version:UInt64})
       FROM ctr_hourly
       WHERE hour >= toDateTime({day:UInt32}) AND hour < toDateTime({dayEnd:UInt32})
         AND toDate(hour) = toDate(toDateTime({day:UInt32}))
         AND ((has({hours:Array(UInt32)}, toUInt32(hour)) AND version = {version:UInt64})
           OR (NOT has({hours:Array(UInt32)}, toUInt32(hour)) AND (hour, version) IN (
                 SELECT hour, max(version) FROM analytics_hours
                 WHERE hour >= toDateTime({day:UInt32}) AND hour < toDateTime({dayEnd:UInt32}) GROUP BY hour)))
       GROUP BY day, item_id, model_version`,
      { day: dayS, dayEnd: dayS + 90_000, hours: hourList, version },
    );
    await this.clickhouse.command(
      `INSERT INTO ctr_daily_by_item (day, item_id, impressions, clicked, clicks, conversions, conversion_value, version)
       SELECT day, item_id, sum(impressions), sum(clicked), sum(clicks), sum(conversions), sum(conversion_value),
              toUInt64({version:UInt64})
       FROM ctr_daily
       WHERE day = toDate(toDateTime({day:UInt32})) AND version = {version:UInt64}
       GROUP BY day, item_id`,
      { day: dayS, version },
    );
    await this.rebuildMonth(dayS, version);
    const finalizedAt = Math.floor(Date.now() / 1000);
    await this.clickhouse.insert(
      'analytics_hours',
      hours.map((h) => ({
        hour: h.hour,
        version,
        event_rows: h.eventRows,
        event_max_ingested_at: h.eventMaxIngestedAt,
        score_rows: h.scoreRows,
        score_max_ingested_at: h.scoreMaxIngestedAt,
        finalized_at: finalizedAt,
      })),
    );
  }

  /**
   * Hours (of store time, before `toS`) whose ingest_batches rows differ from their rolled-up signature
   * (batches, newest ts_ms), or were never rolled up; every hour with batches when `force`.
   */
  async dirtyIngestHours(toS: number, force: boolean): Promise<number[]> {
    const rows = await this.clickhouse.query<{ h: string }>(
      `SELECT toUInt32(hour) AS h
       FROM
       (
         SELECT toStartOfHour(event_time) AS hour, count() AS batches, max(ts_ms) AS newest
         FROM ingest_batches WHERE event_time < toDateTime({to:UInt32}) GROUP BY hour
       ) AS stored
       ANY LEFT JOIN
       (
         SELECT hour, sum(batches) AS rolled, max(max_ts_ms) AS rolled_newest FROM ingest_health_hourly
         WHERE (hour, version) IN (SELECT hour, max(version) FROM ingest_health_hourly GROUP BY hour)
         GROUP BY hour
       ) AS rolled USING (hour)
       WHERE {force:UInt8} = 1 OR rolled != batches OR rolled_newest != newest
       ORDER BY h`,
      { to: toS, force: force ? 1 : 0 },
    );
    return rows.map((r) => Number(r.h));
  }

  /** The newest version in the ingestion health rollup (0 when empty). */
  async ingestHealthVersion(): Promise<number> {
    const [row] = await this.clickhouse.query<{ v: string }>(
      'SELECT max(version) AS v FROM ingest_health_hourly',
    );
    return Number(row?.v ?? 0);
  }

  /** Rolls up `hours` of ingest_batches per topic under `version`, in one insert. */
  rollUpIngestHours(hours: number[], version: number): Promise<void> {
    return this.clickhouse.command(
      `INSERT INTO ingest_health_hourly (hour, topic, batches, rows, invalid, insert_ms_sum, max_insert_ms, max_event_lag_ms,
                                         max_ts_ms, version)
       SELECT toStartOfHour(event_time) AS hour, topic, count(), sum(rows), sum(invalid), sum(insert_ms), max(insert_ms),
              max(max_event_lag_ms), max(ts_ms), toUInt64({version:UInt64})
       FROM ingest_batches
       WHERE event_time >= toDateTime({from:UInt32}) AND event_time < toDateTime({to:UInt32})
         AND has({hours:Array(UInt32)}, toUInt32(toStartOfHour(event_time)))
       GROUP BY hour, topic`,
      { from: Math.min(...hours), to: Math.max(...hours) + 3600, hours, version },
    );
  }

  /**
   * The per-item rows of the month holding the day at `dayS`: that day's rows of `version`, the ledger's
   * current version for the month's other days. `version` must be new to the month (one per day
   * finalized), so that the rows of each rebuild are told apart until they merge.
   */
  private rebuildMonth(dayS: number, version: number): Promise<void> {
    return this.clickhouse.command(
      `INSERT INTO ctr_monthly_by_item (month, item_id, impressions, clicked, clicks, conversions, conversion_value, version)
       SELECT toStartOfMonth(day) AS month, item_id, sum(impressions), sum(clicked), sum(clicks), sum(conversions),
              sum(conversion_value), toUInt64({version:UInt64})
       FROM ctr_daily_by_item
       WHERE toStartOfMonth(day) = toStartOfMonth(toDateTime({day:UInt32}))
         AND ((day = toDate(toDateTime({day:UInt32})) AND version = {version:UInt64})
           OR (day != toDate(toDateTime({day:UInt32})) AND (day, version) IN (
                 SELECT toDate(hour), max(version) FROM analytics_hours
                 WHERE toStartOfMonth(hour) = toStartOfMonth(toDateTime({day:UInt32})) GROUP BY toDate(hour))))
       GROUP BY month, item_id`,
      { day: dayS, version },
    );
  }

  close(): Promise<void> {
    return this.clickhouse.close();
  }
}
