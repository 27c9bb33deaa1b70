-- Daily totals per item over every serving model: a third of ctr_daily's rows, which is what the
-- per-item and per-category daily views group. Written by `mmctr analytics finalize` from ctr_daily under
-- the day's version.
CREATE TABLE IF NOT EXISTS {{database}}.ctr_daily_by_item
(
    day              Date,
    item_id          String,
    impressions      UInt64,
    clicked          UInt64,
    clicks           UInt64,
    conversions      UInt64,
    conversion_value Float64,
    version          UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (day, item_id);

CREATE VIEW IF NOT EXISTS {{database}}.ctr_daily_by_item_current AS
SELECT day, item_id, impressions AS imps, clicked AS clk, clicks AS clk_events, conversions AS conv,
       conversion_value AS conv_value
FROM {{database}}.ctr_daily_by_item
WHERE (day, version) IN (SELECT toDate(hour), max(version) FROM {{database}}.analytics_hours GROUP BY toDate(hour))
UNION ALL
SELECT toDate(event_time) AS day, item_id, toUInt64(1) AS imps, toUInt64(clicked) AS clk, toUInt64(clicks) AS clk_events,
       toUInt64(conversions) AS conv, toFloat64(conversion_value) AS conv_value
FROM {{database}}.impression_outcomes_open;

DROP TABLE IF EXISTS {{database}}.daily_ctr_by_item;

CREATE VIEW IF NOT EXISTS {{database}}.daily_ctr_by_item AS
SELECT day, item_id, sum(imps) AS impressions, sum(clk) AS clicks, clicks / impressions AS ctr
FROM {{database}}.ctr_daily_by_item_current
GROUP BY day, item_id;

DROP TABLE IF EXISTS {{database}}.daily_ctr_by_category;

CREATE VIEW IF NOT EXISTS {{database}}.daily_ctr_by_category AS
SELECT day, category, sum(imps) AS impressions, sum(clk) AS clicks, sum(clk_events) AS click_events,
       sum(conv) AS conversions, clicks / impressions AS ctr
FROM
(
    SELECT day, item_id, sum(imps) AS imps, sum(clk) AS clk, sum(clk_events) AS clk_events, sum(conv) AS conv
    FROM {{database}}.ctr_daily_by_item_current
    GROUP BY day, item_id
) AS per_item
ANY LEFT JOIN
(
    SELECT item_id, category FROM {{database}}.items_latest
) AS catalogue USING (item_id)
GROUP BY day, category;
