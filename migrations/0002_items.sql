-- The item catalogue, one row per version: point-in-time reads pick the newest ts_ms <= t.
CREATE TABLE IF NOT EXISTS {{database}}.items
(
    item_id        String,
    ts_ms          UInt64,
    updated_at     DateTime,
    title          String,
    description    String,
    category       String,
    tags           Array(String),
    image          String,
    content_hash   String,
    schema_version UInt8,
    ingested_at    DateTime
)
ENGINE = ReplacingMergeTree
ORDER BY (item_id, ts_ms);

-- The current version of every item.
CREATE VIEW IF NOT EXISTS {{database}}.items_latest AS
SELECT item_id, max(ts_ms) AS latest_ts_ms, argMax(title, ts_ms) AS title, argMax(description, ts_ms) AS description,
       argMax(category, ts_ms) AS category, argMax(tags, ts_ms) AS tags, argMax(image, ts_ms) AS image,
       argMax(content_hash, ts_ms) AS content_hash, min(ts_ms) AS first_seen_ms
FROM {{database}}.items
GROUP BY item_id;

-- Image, text and fused vectors of an item's content, with the versions that made them.
CREATE TABLE IF NOT EXISTS {{database}}.item_embeddings
(
    item_id            String,
    content_hash       String,
    image_vec          Array(Float32),
    text_vec           Array(Float32),
    fused_vec          Array(Float32),
    image_encoder      String,
    text_encoder       String,
    projection_version String,
    created_ms         UInt64,
    created_at         DateTime
)
ENGINE = ReplacingMergeTree(created_ms)
ORDER BY (item_id, projection_version, content_hash);

-- The newest embedding per item and projection version.
CREATE VIEW IF NOT EXISTS {{database}}.item_embeddings_latest AS
SELECT item_id, projection_version, argMax(content_hash, created_ms) AS content_hash,
       argMax(image_vec, created_ms) AS image_vec, argMax(text_vec, created_ms) AS text_vec,
       argMax(fused_vec, created_ms) AS fused_vec, argMax(image_encoder, created_ms) AS image_encoder,
       argMax(text_encoder, created_ms) AS text_encoder, max(created_ms) AS latest_created_ms
FROM {{database}}.item_embeddings
GROUP BY item_id, projection_version;
