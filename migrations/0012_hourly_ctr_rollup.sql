-- Hourly totals per serving model (a few rows per hour, however many items): what CTR-over-time charts
-- read. Written by `mmctr analytics finalize` from ctr_hourly under the same version as the hour.
CREATE TABLE IF NOT EXISTS {{database}}.ctr_hourly_by_model
(
    hour             DateTime,
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
ORDER BY (hour, model_version);

CREATE VIEW IF NOT EXISTS {{database}}.hourly_ctr_exact AS
SELECT hour, model_version, count() AS impressions, sum(clk) AS clicks, sum(clk_events) AS click_events,
       sum(conv) AS conversions, sum(conv_value) AS conversion_value, clicks / impressions AS ctr
FROM
(
    SELECT toStartOfHour(event_time) AS hour, model_version, clicked AS clk, clicks AS clk_events,
           conversions AS conv, conversion_value AS conv_value
    FROM {{database}}.impression_outcomes_exact
)
GROUP BY hour, model_version;

CREATE VIEW IF NOT EXISTS {{database}}.hourly_ctr AS
SELECT hour, model_version, sum(imps) AS impressions, sum(clk) AS clicks, sum(clk_events) AS click_events,
       sum(conv) AS conversions, sum(conv_value) AS conversion_value, clicks / impressions AS ctr
FROM
(
    SELECT hour, model_version, impressions AS imps, clicked AS clk, clicks AS clk_events, conversions AS conv,
           conversion_value AS conv_value
    FROM {{database}}.ctr_hourly_by_model
    WHERE (hour, version) IN (SELECT hour, max(version) FROM {{database}}.analytics_hours GROUP BY hour)
    UNION ALL
    SELECT toStartOfHour(event_time) AS hour, model_version, toUInt64(1) AS imps, toUInt64(clicked) AS clk,
           toUInt64(clicks) AS clk_events, toUInt64(conversions) AS conv, toFloat64(conversion_value) AS conv_value
    FROM {{database}}.impression_outcomes_open
)
GROUP BY hour, model_version;
