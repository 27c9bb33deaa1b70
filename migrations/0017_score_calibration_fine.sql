-- Calibration in 0.02-wide buckets of the served score (the last one from 0.5 up), per model version,
-- over scored impressions: what the dashboard charts. Finalized hours come from calibration_hourly's
-- `bucket50`, the open tail from impression_outcomes_open.
CREATE VIEW IF NOT EXISTS {{database}}.score_calibration_fine_exact AS
SELECT model_version, bucket50 / 50 AS bucket, count() AS impressions, sum(clicked) AS clicks,
       avg(ctr) AS predicted_ctr, avg(clicked) AS observed_ctr
FROM
(
    SELECT model_version, ctr, clicked, toUInt8(least(floor(ctr * 50), 25)) AS bucket50
    FROM {{database}}.impression_outcomes_exact
    WHERE scored = 1
)
GROUP BY model_version, bucket50;

CREATE VIEW IF NOT EXISTS {{database}}.score_calibration_fine AS
SELECT model_version, bucket50 / 50 AS bucket, sum(n) AS impressions, sum(k) AS clicks,
       sum(s) / impressions AS predicted_ctr, clicks / impressions AS observed_ctr
FROM
(
    SELECT model_version, bucket50, impressions AS n, clicked AS k, sum_ctr AS s
    FROM {{database}}.calibration_hourly
    WHERE (hour, version) IN (SELECT hour, max(version) FROM {{database}}.analytics_hours GROUP BY hour)
    UNION ALL
    SELECT model_version, toUInt8(least(floor(ctr * 50), 25)) AS bucket50, toUInt64(1) AS n, toUInt64(clicked) AS k,
           toFloat64(ctr) AS s
    FROM {{database}}.impression_outcomes_open
    WHERE scored = 1
)
GROUP BY model_version, bucket50;
