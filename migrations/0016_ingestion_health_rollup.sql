-- Hourly ingestion health rolled up: `mmctr analytics finalize` recomputes each hour (of store time) of
-- ingest_batches whose rows changed since its last run (batches and newest ts_ms are its signature) and
-- writes it under a new version; readers take each hour's newest version, then read the batches after
-- the newest rolled-up hour at query time. Same columns and answers as the query-time view it replaces.
CREATE TABLE IF NOT EXISTS {{database}}.ingest_health_hourly
(
    hour             DateTime,
    topic            String,
    batches          UInt64,
    rows             UInt64,
    invalid          UInt64,
    insert_ms_sum    UInt64,
    max_insert_ms    UInt32,
    max_event_lag_ms UInt64,
    max_ts_ms        UInt64,
    version          UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, topic);

-- The query-time view (0004's definition), kept for audits.
CREATE VIEW IF NOT EXISTS {{database}}.ingestion_health_hourly_exact AS
SELECT toStartOfHour(event_time) AS hour, topic, count() AS batches, sum(rows) AS rows, sum(invalid) AS invalid,
       avg(insert_ms) AS avg_insert_ms, max(insert_ms) AS max_insert_ms, max(max_event_lag_ms) AS max_event_lag_ms
FROM {{database}}.ingest_batches
GROUP BY hour, topic;

DROP TABLE IF EXISTS {{database}}.ingestion_health_hourly;

CREATE VIEW IF NOT EXISTS {{database}}.ingestion_health_hourly AS
SELECT hour, topic, sum(n) AS batches, sum(r) AS rows, sum(i) AS invalid, sum(ms) / batches AS avg_insert_ms,
       max(max_ms) AS max_insert_ms, max(lag_ms) AS max_event_lag_ms
FROM
(
    SELECT hour, topic, batches AS n, rows AS r, invalid AS i, insert_ms_sum AS ms, max_insert_ms AS max_ms,
           max_event_lag_ms AS lag_ms
    FROM {{database}}.ingest_health_hourly
    WHERE (hour, version) IN (SELECT hour, max(version) FROM {{database}}.ingest_health_hourly GROUP BY hour)
    UNION ALL
    SELECT toStartOfHour(event_time) AS hour, topic, toUInt64(1) AS n, toUInt64(rows) AS r, toUInt64(invalid) AS i,
           toUInt64(insert_ms) AS ms, insert_ms AS max_ms, max_event_lag_ms AS lag_ms
    FROM {{database}}.ingest_batches
    WHERE event_time >= (SELECT toDateTime(toUInt32(max(hour)) + 3600) FROM {{database}}.ingest_health_hourly)
)
GROUP BY hour, topic;
