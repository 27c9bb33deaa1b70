-- Calibration of served CTRs: predicted vs observed CTR per model version and predicted-CTR bucket
-- (20 equal-width buckets of 0.05). Starts from the impressions (what was shown) and looks up the
-- score each one was served with, by request_id + item_id: the ad server must impress under the
-- request_id it scored with. Impressions never scored are left out; one JOIN per SELECT (18.16), joined
-- subqueries aliased (modern servers).
-- previous checksum f3af457d8b1bd9c5b8a463f8422001b6e59f49b7ae7f9ac48e862d89b80a6026 (the same view without
-- the subquery aliases)
CREATE VIEW IF NOT EXISTS {{database}}.score_calibration AS
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
