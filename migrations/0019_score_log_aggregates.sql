-- The raw aggregate window values the scorer fed the model (docs/features.md, Aggregations), as JSON text
-- (18.16 has no Map or JSON type), so the parity check can compare them with the offline values:
--   aggregates_json  {"as_of_ms": t, "user": {"<aggregation>@<window>": value},
--                     "candidates": {"<aggregation>@<window>": [value per candidate, item_ids order]}}
-- '' when the running layout reads no aggregate, and on rows logged before this migration.
ALTER TABLE {{database}}.score_log
    ADD COLUMN aggregates_json String DEFAULT '' AFTER sequences_json;
