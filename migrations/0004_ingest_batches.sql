-- One row per stored ingest batch: what analysts read for ingestion health.
CREATE TABLE IF NOT EXISTS {{database}}.ingest_batches
(
    ts_ms            UInt64,
    event_time       DateTime,
    consumer         String,
    topic            String,
    partition        UInt16,
    first_offset     UInt64,
    last_offset      UInt64,
    rows             UInt32,
    invalid          UInt32,
    insert_ms        UInt32,
    max_event_lag_ms UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (topic, partition, ts_ms);

-- Hourly ingestion health: rows stored, rejected, insert time and event-to-store lag.
CREATE VIEW IF NOT EXISTS {{database}}.ingestion_health_hourly AS
SELECT toStartOfHour(event_time) AS hour, topic, count() AS batches, sum(rows) AS rows, sum(invalid) AS invalid,
       avg(insert_ms) AS avg_insert_ms, max(insert_ms) AS max_insert_ms, max(max_event_lag_ms) AS max_event_lag_ms
FROM {{database}}.ingest_batches
GROUP BY hour, topic;
