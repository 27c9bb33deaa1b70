-- Feature repository versions applied to this database by `mmctr features apply`, one row per apply that
-- changed the version: the repository's name and version, when (applied_ms orders applies within a
-- second), and the repository document itself, so `mmctr features plan <repo>` diffs against what was
-- applied and apps check at startup that their repository version was applied.
CREATE TABLE IF NOT EXISTS {{database}}.feature_repo_applied
(
    name       String,
    version    String,
    applied_at DateTime,
    applied_ms UInt64,
    document   String
)
ENGINE = MergeTree
ORDER BY (name, applied_ms);
