/** The score_log columns a test chooses; scoreLogRow fills in the rest. */
export interface ScoreLogFields {
  request_id: string;
  ts_ms: number;
  /** DateTime as the table takes it: epoch seconds or 'YYYY-MM-DD hh:mm:ss'. */
  event_time: number | string;
  user_id: string;
  model_version: string;
  device: string;
  item_ids: string[];
  ctrs: number[];
  degraded: number;
  ingested_at: number | string;
}

/**
 * A score_log row with every column present: the chosen fields, and a request on the feed in DE scored with
 * feature spec fs-2, without history or a shadow model, its items at positions 0, 1, ...
 */
export function scoreLogRow(f: ScoreLogFields): Record<string, unknown> {
  return {
    request_id: f.request_id,
    ts_ms: f.ts_ms,
    event_time: f.event_time,
    user_id: f.user_id,
    model_version: f.model_version,
    feature_spec_version: 'fs-2',
    shadow_model_version: '',
    device: f.device,
    placement: 'feed',
    country: 'DE',
    history_item_ids: [],
    history_ts_ms: [],
    item_ids: f.item_ids,
    positions: f.item_ids.map((_, i) => i),
    ctrs: f.ctrs,
    shadow_ctrs: [],
    degraded: f.degraded,
    ingested_at: f.ingested_at,
  };
}
