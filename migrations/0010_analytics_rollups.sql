-- Analyst rollups, exact under redelivery and any arrival order by construction: `mmctr analytics finalize`
-- recomputes whole hours from `events FINAL` (clicks and conversions joined to impressions on request_id +
-- item_id, the serving model from score_log on the same key) and writes them under a new version; the
-- ledger `analytics_hours` says which version of each hour is current, and is written last, in one insert,
-- so readers switch from one complete version of an hour (and of its day) to the next. Rollup rows of
-- superseded versions are ignored by readers and collapse on merge. Hours at or after the watermark
-- (the newest finalized hour + 1 h) are computed at query time. See docs/schema.md for the contract.

-- One row per finalize of an hour: its version and the events/score_log signature it saw (rows, newest
-- ingested_at); a later signature change marks the hour dirty.
CREATE TABLE IF NOT EXISTS {{database}}.analytics_hours
(
    hour                  DateTime,
    version               UInt64,
    event_rows            UInt64,
    event_max_ingested_at DateTime,
    score_rows            UInt64,
    score_max_ingested_at DateTime,
    finalized_at          DateTime
)
ENGINE = ReplacingMergeTree(version)
ORDER BY hour;

-- Impressions of an hour (by impression time) per item and serving model ('' = not scored), with their
-- outcomes: clicked = impressions with at least one click, clicks = click events, conversions likewise.
CREATE TABLE IF NOT EXISTS {{database}}.ctr_hourly
(
    hour             DateTime,
    item_id          String,
    model_version    String,
    impressions      UInt64,
    clicked          UInt64,
    clicks           UInt64,
    conversions      UInt64,
    conversion_value Float64,
    version          UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, item_id, model_version);

-- The finalized hours of a day summed; its version is the newest version among the day's hours.
CREATE TABLE IF NOT EXISTS {{database}}.ctr_daily
(
    day              Date,
    item_id          String,
    model_version    String,
    impressions      UInt64,
    clicked          UInt64,
    clicks           UInt64,
    conversions      UInt64,
    conversion_value Float64,
    version          UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (day, item_id, model_version);

-- Scored impressions of an hour per model and predicted-CTR bucket: `bucket` (20 of 0.05, as
-- score_calibration) and `bucket50` (0.02 wide, capped at 25, as the dashboard charts).
CREATE TABLE IF NOT EXISTS {{database}}.calibration_hourly
(
    hour          DateTime,
    model_version String,
    bucket        UInt8,
    bucket50      UInt8,
    impressions   UInt64,
    clicked       UInt64,
    sum_ctr       Float64,
    degraded      UInt64,
    version       UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, model_version, bucket, bucket50);

-- Every impression with its outcomes and serving score, computed at query time over all events.
CREATE VIEW IF NOT EXISTS {{database}}.impression_outcomes_exact AS
SELECT event_time, item_id, request_id, clicks, clicked, conversions, conversion_value,
       model_version, ctr, degraded, scored
FROM
(
    SELECT event_time, item_id, request_id, clicks, toUInt8(clicks > 0) AS clicked, conversions, conversion_value
    FROM
    (
        SELECT event_time, item_id, request_id
        FROM {{database}}.events FINAL
        WHERE type = 'impression'
    ) AS shown
    ANY LEFT JOIN
    (
        SELECT request_id, item_id, countIf(type = 'click') AS clicks, countIf(type = 'conversion') AS conversions,
               sumIf(value, type = 'conversion') AS conversion_value
        FROM {{database}}.events FINAL
        WHERE type != 'impression'
        GROUP BY request_id, item_id
    ) AS outcomes USING (request_id, item_id)
) AS labeled
ANY LEFT JOIN
(
    SELECT request_id, item_id, model_version, ctr, degraded, toUInt8(1) AS scored
    FROM {{database}}.score_log_items
) AS served USING (request_id, item_id);

-- The same for impressions at or after the watermark only (the part no finalize has covered yet); their
-- clicks and scores are looked up from 24 h before the watermark on (partition pruning).
CREATE VIEW IF NOT EXISTS {{database}}.impression_outcomes_open AS
SELECT event_time, item_id, request_id, clicks, clicked, conversions, conversion_value,
       model_version, ctr, degraded, scored
FROM
(
    SELECT event_time, item_id, request_id, clicks, toUInt8(clicks > 0) AS clicked, conversions, conversion_value
    FROM
    (
        SELECT event_time, item_id, request_id
        FROM {{database}}.events FINAL
        WHERE type = 'impression'
          AND event_time >= (SELECT toDateTime(toUInt32(max(hour)) + 3600) FROM {{database}}.analytics_hours)
    ) AS shown
    ANY LEFT JOIN
    (
        SELECT request_id, item_id, countIf(type = 'click') AS clicks, countIf(type = 'conversion') AS conversions,
               sumIf(value, type = 'conversion') AS conversion_value
        FROM {{database}}.events FINAL
        WHERE type != 'impression'
          AND event_time >= (SELECT toDateTime(greatest(toUInt32(max(hour)), 86400) + 3600 - 86400)
                             FROM {{database}}.analytics_hours)
        GROUP BY request_id, item_id
    ) AS outcomes USING (request_id, item_id)
) AS labeled
ANY LEFT JOIN
(
    SELECT request_id, item_id, model_version, ctr, degraded, toUInt8(1) AS scored
    FROM {{database}}.score_log FINAL
    ARRAY JOIN item_ids AS item_id, ctrs AS ctr
    WHERE event_time >= (SELECT toDateTime(greatest(toUInt32(max(hour)), 86400) + 3600 - 86400)
                         FROM {{database}}.analytics_hours)
) AS served USING (request_id, item_id);

-- Per hour, item and model: the current finalized version, then the open hours.
CREATE VIEW IF NOT EXISTS {{database}}.ctr_hourly_current AS
SELECT hour, item_id, model_version, impressions AS imps, clicked AS clk, clicks AS clk_events,
       conversions AS conv, conversion_value AS conv_value
FROM {{database}}.ctr_hourly
WHERE (hour, version) IN (SELECT hour, max(version) FROM {{database}}.analytics_hours GROUP BY hour)
UNION ALL
SELECT toStartOfHour(event_time) AS hour, item_id, model_version, toUInt64(1) AS imps, toUInt64(clicked) AS clk,
       toUInt64(clicks) AS clk_events, toUInt64(conversions) AS conv, toFloat64(conversion_value) AS conv_value
FROM {{database}}.impression_outcomes_open;

-- Per day, item and model: the current finalized version of each day, then the open hours.
CREATE VIEW IF NOT EXISTS {{database}}.ctr_daily_current AS
SELECT day, item_id, model_version, impressions AS imps, clicked AS clk, clicks AS clk_events,
       conversions AS conv, conversion_value AS conv_value
FROM {{database}}.ctr_daily
WHERE (day, version) IN (SELECT toDate(hour), max(version) FROM {{database}}.analytics_hours GROUP BY toDate(hour))
UNION ALL
SELECT toDate(event_time) AS day, item_id, model_version, toUInt64(1) AS imps, toUInt64(clicked) AS clk,
       toUInt64(clicks) AS clk_events, toUInt64(conversions) AS conv, toFloat64(conversion_value) AS conv_value
FROM {{database}}.impression_outcomes_open;

-- The query-time versions, kept for audits (the rollup-backed views below must equal them after a finalize).
CREATE VIEW IF NOT EXISTS {{database}}.daily_ctr_by_item_exact AS
SELECT toDate(event_time) AS day, item_id, count() AS impressions, sum(clicked) AS clicks,
       sum(clicked) / count() AS ctr
FROM {{database}}.impressions_labeled
GROUP BY day, item_id;

CREATE VIEW IF NOT EXISTS {{database}}.score_calibration_exact AS
SELECT model_version,
       bucket,
       bucket / 20 AS bucket_lo,
       (bucket + 1) / 20 AS bucket_hi,
       count() AS impressions,
       sum(clicked) AS clicks,
       avg(ctr) AS predicted_ctr,
       avg(clicked) AS observed_ctr,
       sum(degraded) AS degraded_impressions
FROM
(
    SELECT request_id, item_id, clicked
    FROM {{database}}.impressions_labeled
) AS shown
ANY LEFT JOIN
(
    SELECT request_id, item_id, model_version, ctr, degraded,
           toUInt8(least(floor(ctr * 20), 19)) AS bucket, 1 AS scored
    FROM {{database}}.score_log_items
) AS served USING (request_id, item_id)
WHERE scored = 1
GROUP BY model_version, bucket;

CREATE VIEW IF NOT EXISTS {{database}}.hourly_ctr_by_item_exact AS
SELECT hour, item_id, count() AS impressions, sum(clk) AS clicks, sum(clk_events) AS click_events,
       sum(conv) AS conversions, clicks / impressions AS ctr
FROM
(
    SELECT toStartOfHour(event_time) AS hour, item_id, clicked AS clk, clicks AS clk_events, conversions AS conv
    FROM {{database}}.impression_outcomes_exact
)
GROUP BY hour, item_id;

CREATE VIEW IF NOT EXISTS {{database}}.daily_ctr_by_model_exact AS
SELECT day, model_version, count() AS impressions, sum(clk) AS clicks, sum(clk_events) AS click_events,
       sum(conv) AS conversions, sum(conv_value) AS conversion_value, clicks / impressions AS ctr
FROM
(
    SELECT toDate(event_time) AS day, model_version, clicked AS clk, clicks AS clk_events, conversions AS conv,
           conversion_value AS conv_value
    FROM {{database}}.impression_outcomes_exact
)
GROUP BY day, model_version;

CREATE VIEW IF NOT EXISTS {{database}}.daily_ctr_by_category_exact AS
SELECT day, category, sum(imps) AS impressions, sum(clk) AS clicks, sum(clk_events) AS click_events,
       sum(conv) AS conversions, clicks / impressions AS ctr
FROM
(
    SELECT day, item_id, count() AS imps, sum(c1) AS clk, sum(c2) AS clk_events, sum(c3) AS conv
    FROM
    (
        SELECT toDate(event_time) AS day, item_id, clicked AS c1, clicks AS c2, conversions AS c3
        FROM {{database}}.impression_outcomes_exact
    )
    GROUP BY day, item_id
) AS per_item
ANY LEFT JOIN
(
    SELECT item_id, category FROM {{database}}.items_latest
) AS catalogue USING (item_id)
GROUP BY day, category;

-- The analysts' views, now read from the rollups (same names, columns and results).
DROP TABLE IF EXISTS {{database}}.daily_ctr_by_item;

CREATE VIEW IF NOT EXISTS {{database}}.daily_ctr_by_item AS
SELECT day, item_id, sum(imps) AS impressions, sum(clk) AS clicks, clicks / impressions AS ctr
FROM {{database}}.ctr_daily_current
GROUP BY day, item_id;

DROP TABLE IF EXISTS {{database}}.score_calibration;

CREATE VIEW IF NOT EXISTS {{database}}.score_calibration AS
SELECT model_version,
       bucket,
       bucket / 20 AS bucket_lo,
       (bucket + 1) / 20 AS bucket_hi,
       sum(n) AS impressions,
       sum(k) AS clicks,
       sum(s) / impressions AS predicted_ctr,
       clicks / impressions AS observed_ctr,
       sum(d) AS degraded_impressions
FROM
(
    SELECT model_version, bucket, impressions AS n, clicked AS k, sum_ctr AS s, degraded AS d
    FROM {{database}}.calibration_hourly
    WHERE (hour, version) IN (SELECT hour, max(version) FROM {{database}}.analytics_hours GROUP BY hour)
    UNION ALL
    SELECT model_version, toUInt8(least(floor(ctr * 20), 19)) AS bucket, toUInt64(1) AS n, toUInt64(clicked) AS k,
           toFloat64(ctr) AS s, toUInt64(degraded) AS d
    FROM {{database}}.impression_outcomes_open
    WHERE scored = 1
)
GROUP BY model_version, bucket;

CREATE VIEW IF NOT EXISTS {{database}}.hourly_ctr_by_item AS
SELECT hour, item_id, sum(imps) AS impressions, sum(clk) AS clicks, sum(clk_events) AS click_events,
       sum(conv) AS conversions, clicks / impressions AS ctr
FROM {{database}}.ctr_hourly_current
GROUP BY hour, item_id;

CREATE VIEW IF NOT EXISTS {{database}}.daily_ctr_by_model AS
SELECT day, model_version, sum(imps) AS impressions, sum(clk) AS clicks, sum(clk_events) AS click_events,
       sum(conv) AS conversions, sum(conv_value) AS conversion_value, clicks / impressions AS ctr
FROM {{database}}.ctr_daily_current
GROUP BY day, model_version;

CREATE VIEW IF NOT EXISTS {{database}}.daily_ctr_by_category AS
SELECT day, category, sum(imps) AS impressions, sum(clk) AS clicks, sum(clk_events) AS click_events,
       sum(conv) AS conversions, clicks / impressions AS ctr
FROM
(
    SELECT day, item_id, sum(imps) AS imps, sum(clk) AS clk, sum(clk_events) AS clk_events, sum(conv) AS conv
    FROM {{database}}.ctr_daily_current
    GROUP BY day, item_id
) AS per_item
ANY LEFT JOIN
(
    SELECT item_id, category FROM {{database}}.items_latest
) AS catalogue USING (item_id)
GROUP BY day, category;
