-- What the scorer used of the request, in the running feature repository's own names, so the parity
-- check can rebuild any repository's inputs from the log (JSON text: 18.16 has no Map or JSON type).
--   context_json            {"<request-scope context attribute>": value, ...} after defaults
--   candidate_context_json  [{"<candidate-scope context attribute>": value, ...}, ...] in item_ids order
--   sequences_json          {"<sequence feature>": {"keys": [...], "ts_ms": [...]}, ...} newest first
-- Rows logged before this migration read as '' and fall back to the fixed columns above them.
-- One statement: 18.16 has no ADD COLUMN IF NOT EXISTS, and the runner records the file once it succeeds.
ALTER TABLE {{database}}.score_log
    ADD COLUMN context_json String DEFAULT '' AFTER degraded,
    ADD COLUMN candidate_context_json String DEFAULT '' AFTER context_json,
    ADD COLUMN sequences_json String DEFAULT '' AFTER candidate_context_json;
