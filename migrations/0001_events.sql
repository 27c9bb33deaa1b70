-- Behaviour events: impressions, clicks, conversions.
-- previous checksum a35bed924fee6f7fb2cd922071ec5e403a3e2207b4728746eec995c72adbe9bf (the same schema; its
-- impressions_labeled join had no subquery aliases, which modern servers require)
-- Idempotent under redelivery: a redelivered event has the same event_id, user_id and ts_ms, lands in
-- the same daily partition, and collapses into one row on merge. Readers that need exactly-once
-- (events_dedup, the trainer) read with FINAL, which collapses rows not yet merged.
CREATE TABLE IF NOT EXISTS {{database}}.events
(
    event_id       String,
    type           Enum8('impression' = 1, 'click' = 2, 'conversion' = 3),
    ts_ms          UInt64,
    event_time     DateTime,
    user_id        String,
    item_id        String,
    request_id     String,
    position       UInt16,
    device         String,
    placement      String,
    country        String,
    value          Float64,
    schema_version UInt8,
    ingested_at    DateTime
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (user_id, ts_ms, event_id);

-- Each event_id exactly once.
CREATE VIEW IF NOT EXISTS {{database}}.events_dedup AS
SELECT event_id, type, ts_ms, event_time, user_id, item_id, request_id, position, device, placement,
       country, value, schema_version, ingested_at
FROM {{database}}.events FINAL;

-- Every impression with its clicks (same request_id and item_id), de-duplicated. Joined subqueries carry
-- aliases: modern servers refuse a JOIN of unaliased subqueries (joined_subquery_requires_alias).
CREATE VIEW IF NOT EXISTS {{database}}.impressions_labeled AS
SELECT event_id, ts_ms, event_time, user_id, item_id, request_id, position, device, placement, country,
       clicks, first_click_ts_ms, toUInt8(clicks > 0) AS clicked
FROM
(
    SELECT event_id, ts_ms, event_time, user_id, item_id, request_id, position, device, placement, country
    FROM {{database}}.events FINAL
    WHERE type = 'impression'
) AS shown
ANY LEFT JOIN
(
    SELECT request_id, item_id, count() AS clicks, min(ts_ms) AS first_click_ts_ms
    FROM {{database}}.events FINAL
    WHERE type = 'click'
    GROUP BY request_id, item_id
) AS click_counts USING (request_id, item_id);

-- Daily CTR per item.
CREATE VIEW IF NOT EXISTS {{database}}.daily_ctr_by_item AS
SELECT toDate(event_time) AS day, item_id, count() AS impressions, sum(clicked) AS clicks,
       sum(clicked) / count() AS ctr
FROM {{database}}.impressions_labeled
GROUP BY day, item_id;
