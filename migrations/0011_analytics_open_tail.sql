-- The open tail of the analyst views (impressions at or after the watermark) without FINAL: rows are
-- de-duplicated by event_id (LIMIT 1 BY; a redelivered event is the same row), and outcomes and scores
-- are read only for the tail's own impressions, so PREWHERE can skip the rest of the lookback
-- partitions instead of merging them. Same answers as 0010's definition, a fraction of its cost.
DROP TABLE IF EXISTS {{database}}.impression_outcomes_open;

CREATE VIEW IF NOT EXISTS {{database}}.impression_outcomes_open AS
SELECT event_time, item_id, request_id, clicks, clicked, conversions, conversion_value,
       model_version, ctr, degraded, scored
FROM
(
    SELECT event_time, item_id, request_id, clicks, toUInt8(clicks > 0) AS clicked, conversions, conversion_value
    FROM
    (
        SELECT event_time, item_id, request_id
        FROM {{database}}.events
        WHERE type = 'impression'
          AND event_time >= (SELECT toDateTime(toUInt32(max(hour)) + 3600) FROM {{database}}.analytics_hours)
        LIMIT 1 BY event_id
    ) AS shown
    ANY LEFT JOIN
    (
        SELECT request_id, item_id, countIf(type = 'click') AS clicks, countIf(type = 'conversion') AS conversions,
               sumIf(value, type = 'conversion') AS conversion_value
        FROM
        (
            SELECT request_id, item_id, type, value
            FROM {{database}}.events
            WHERE type != 'impression'
              AND event_time >= (SELECT toDateTime(greatest(toUInt32(max(hour)), 86400) + 3600 - 86400)
                                 FROM {{database}}.analytics_hours)
              AND (request_id, item_id) IN (
                  SELECT request_id, item_id FROM {{database}}.events
                  WHERE type = 'impression'
                    AND event_time >= (SELECT toDateTime(toUInt32(max(hour)) + 3600) FROM {{database}}.analytics_hours))
            LIMIT 1 BY event_id
        )
        GROUP BY request_id, item_id
    ) AS outcomes USING (request_id, item_id)
) AS labeled
ANY LEFT JOIN
(
    SELECT request_id, item_id, model_version, ctr, degraded, toUInt8(1) AS scored
    FROM
    (
        SELECT request_id, model_version, item_ids, ctrs, degraded
        FROM {{database}}.score_log
        WHERE event_time >= (SELECT toDateTime(greatest(toUInt32(max(hour)), 86400) + 3600 - 86400)
                             FROM {{database}}.analytics_hours)
          AND request_id IN (
              SELECT request_id FROM {{database}}.events
              WHERE type = 'impression'
                AND event_time >= (SELECT toDateTime(toUInt32(max(hour)) + 3600) FROM {{database}}.analytics_hours))
        LIMIT 1 BY request_id
    )
    ARRAY JOIN item_ids AS item_id, ctrs AS ctr
) AS served USING (request_id, item_id);
