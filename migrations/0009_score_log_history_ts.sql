-- Click times of the logged history (feature spec fs-2): history_ts_ms[i] is when the user clicked
-- history_item_ids[i], so the model's hist_age (its age at ts_ms) can be recomputed from the log.
-- Rows logged before this migration read as []. 18.16 has no ADD COLUMN IF NOT EXISTS: this file
-- holds one statement, and the runner records it as applied right after it succeeds.
ALTER TABLE {{database}}.score_log ADD COLUMN history_ts_ms Array(Int64) AFTER history_item_ids;
