-- Day partitions that `mmctr retention apply` dropped, one row each: which table, the partition, how many
-- rows and bytes it held, the newest event time in it, and when it was dropped. The analytics finalizer
-- reads it so that it never recomputes an hour whose source rows are gone.
CREATE TABLE IF NOT EXISTS {{database}}.retention_log
(
    table_name        String,
    partition_id      String,
    rows              UInt64,
    bytes_on_disk     UInt64,
    newest_event_time DateTime,
    dropped_at        DateTime
)
ENGINE = MergeTree
ORDER BY (table_name, dropped_at);
