-- Per-item rollups laid out for per-item reads. `ctr_hourly` is sorted by hour, so one item's hours are
-- spread over every granule, and the per-item views group every hour x item x model row before any
-- filter (18.16 does not push a WHERE into a view). `ctr_hourly_by_item` is sorted by (item_id, hour):
-- a read of one item by its key touches that item's granules only. `ctr_monthly_by_item` holds a month
-- per item (items x months rows), what an all-time per-item ranking groups. Both are written by
-- `mmctr analytics finalize` under the version of their hours, before the ledger names that version.

-- An hour's impressions per item over every serving model (ctr_hourly summed over model_version).
CREATE TABLE IF NOT EXISTS {{database}}.ctr_hourly_by_item
(
    hour             DateTime,
    item_id          String,
    impressions      UInt64,
    clicked          UInt64,
    clicks           UInt64,
    conversions      UInt64,
    conversion_value Float64,
    version          UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (item_id, hour);

-- A month's finalized days per item; its version is the newest version among the month's hours.
CREATE TABLE IF NOT EXISTS {{database}}.ctr_monthly_by_item
(
    month            Date,
    item_id          String,
    impressions      UInt64,
    clicked          UInt64,
    clicks           UInt64,
    conversions      UInt64,
    conversion_value Float64,
    version          UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYear(month)
ORDER BY (month, item_id);

-- Per item over all time: impressions, clicks (impressions with a click), click events, conversions.
CREATE VIEW IF NOT EXISTS {{database}}.ctr_by_item_exact AS
SELECT item_id, count() AS impressions, sum(clk) AS clicks, sum(clk_events) AS click_events,
       sum(conv) AS conversions, sum(conv_value) AS conversion_value, clicks / impressions AS ctr
FROM
(
    SELECT item_id, clicked AS clk, clicks AS clk_events, conversions AS conv, conversion_value AS conv_value
    FROM {{database}}.impression_outcomes_exact
)
GROUP BY item_id;

CREATE VIEW IF NOT EXISTS {{database}}.ctr_by_item AS
SELECT item_id, sum(imps) AS impressions, sum(clk) AS clicks, sum(clk_events) AS click_events,
       sum(conv) AS conversions, sum(conv_value) AS conversion_value, clicks / impressions AS ctr
FROM
(
    SELECT item_id, impressions AS imps, clicked AS clk, clicks AS clk_events, conversions AS conv,
           conversion_value AS conv_value
    FROM {{database}}.ctr_monthly_by_item
    WHERE (month, version) IN (SELECT toStartOfMonth(hour), max(version) FROM {{database}}.analytics_hours
                               GROUP BY toStartOfMonth(hour))
    UNION ALL
    SELECT item_id, toUInt64(1) AS imps, toUInt64(clicked) AS clk, toUInt64(clicks) AS clk_events,
           toUInt64(conversions) AS conv, toFloat64(conversion_value) AS conv_value
    FROM {{database}}.impression_outcomes_open
)
GROUP BY item_id;

-- hourly_ctr_by_item from the per-item table (a third of ctr_hourly's rows or less).
DROP TABLE IF EXISTS {{database}}.hourly_ctr_by_item;

CREATE VIEW IF NOT EXISTS {{database}}.hourly_ctr_by_item AS
SELECT hour, item_id, sum(imps) AS impressions, sum(clk) AS clicks, sum(clk_events) AS click_events,
       sum(conv) AS conversions, clicks / impressions AS ctr
FROM
(
    SELECT hour, item_id, impressions AS imps, clicked AS clk, clicks AS clk_events, conversions AS conv
    FROM {{database}}.ctr_hourly_by_item
    WHERE (hour, version) IN (SELECT hour, max(version) FROM {{database}}.analytics_hours GROUP BY hour)
    UNION ALL
    SELECT toStartOfHour(event_time) AS hour, item_id, toUInt64(1) AS imps, toUInt64(clicked) AS clk,
           toUInt64(clicks) AS clk_events, toUInt64(conversions) AS conv
    FROM {{database}}.impression_outcomes_open
)
GROUP BY hour, item_id;

-- Hours finalized before this migration: their current rows, under their current versions (skipped when
-- the tables already hold rows, so rerunning this file adds nothing).
INSERT INTO {{database}}.ctr_hourly_by_item
    (hour, item_id, impressions, clicked, clicks, conversions, conversion_value, version)
SELECT hour, item_id, sum(impressions), sum(clicked), sum(clicks), sum(conversions), sum(conversion_value), version
FROM {{database}}.ctr_hourly
WHERE (hour, version) IN (SELECT hour, max(version) FROM {{database}}.analytics_hours GROUP BY hour)
  AND (SELECT count() FROM {{database}}.ctr_hourly_by_item) = 0
GROUP BY hour, item_id, version;

INSERT INTO {{database}}.ctr_monthly_by_item
    (month, item_id, impressions, clicked, clicks, conversions, conversion_value, version)
SELECT month, item_id, sum(imps), sum(clk), sum(clk_events), sum(conv), sum(conv_value), any(month_version)
FROM
(
    SELECT toStartOfMonth(day) AS month, item_id, impressions AS imps, clicked AS clk, clicks AS clk_events,
           conversions AS conv, conversion_value AS conv_value
    FROM {{database}}.ctr_daily_by_item
    WHERE (day, version) IN (SELECT toDate(hour), max(version) FROM {{database}}.analytics_hours GROUP BY toDate(hour))
      AND (SELECT count() FROM {{database}}.ctr_monthly_by_item) = 0
) AS days
ANY INNER JOIN
(
    SELECT toStartOfMonth(hour) AS month, max(version) AS month_version
    FROM {{database}}.analytics_hours
    GROUP BY month
) AS months USING (month)
GROUP BY month, item_id;
