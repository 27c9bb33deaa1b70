-- Vectors of the embeddings a feature repository declares on entities other than the catalogue item
-- (docs/features.md, Embeddings): one row per embedding, entity key and hash of the embedding's input
-- values, so each entity version finds the vector of its own content. The catalogue's fused vectors stay
-- in item_embeddings.
CREATE TABLE IF NOT EXISTS {{database}}.entity_embeddings
(
    embedding    String,
    entity       String,
    entity_key   String,
    content_hash String,
    vec          Array(Float32),
    encoder      String,
    created_ms   UInt64,
    created_at   DateTime
)
ENGINE = ReplacingMergeTree(created_ms)
ORDER BY (embedding, entity_key, content_hash);
