-- Model registry: one row per status change; the newest updated_ms wins.
CREATE TABLE IF NOT EXISTS {{database}}.models
(
    version              String,
    model_type           String,
    status               Enum8('candidate' = 1, 'production' = 2, 'retired' = 3),
    artifact_uri         String,
    feature_spec_version String,
    metrics              String,
    train_from_ms        UInt64,
    train_to_ms          UInt64,
    git_rev              String,
    created_at           DateTime,
    updated_ms           UInt64
)
ENGINE = ReplacingMergeTree(updated_ms)
ORDER BY version;

CREATE VIEW IF NOT EXISTS {{database}}.models_current AS
SELECT version, argMax(model_type, updated_ms) AS model_type, argMax(status, updated_ms) AS status,
       argMax(artifact_uri, updated_ms) AS artifact_uri, argMax(feature_spec_version, updated_ms) AS feature_spec_version,
       argMax(metrics, updated_ms) AS metrics, argMax(train_from_ms, updated_ms) AS train_from_ms,
       argMax(train_to_ms, updated_ms) AS train_to_ms, argMax(git_rev, updated_ms) AS git_rev,
       min(created_at) AS created_at, max(updated_ms) AS latest_updated_ms
FROM {{database}}.models
GROUP BY version;

-- What the scorer answered, one row per request, with the features it used (parallel arrays).
CREATE TABLE IF NOT EXISTS {{database}}.score_log
(
    request_id           String,
    ts_ms                UInt64,
    event_time           DateTime,
    user_id              String,
    model_version        String,
    feature_spec_version String,
    shadow_model_version String,
    device               String,
    placement            String,
    country              String,
    history_item_ids     Array(String),
    item_ids             Array(String),
    positions            Array(UInt16),
    ctrs                 Array(Float64),
    shadow_ctrs          Array(Float64),
    degraded             UInt8,
    ingested_at          DateTime
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (model_version, ts_ms, request_id);

-- One row per scored candidate.
CREATE VIEW IF NOT EXISTS {{database}}.score_log_items AS
SELECT request_id, ts_ms, event_time, user_id, model_version, degraded, item_id, position, ctr
FROM {{database}}.score_log FINAL
ARRAY JOIN item_ids AS item_id, positions AS position, ctrs AS ctr;
