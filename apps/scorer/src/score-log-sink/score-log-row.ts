import { decodeWith, validate, type Decoded, type ScoreLogRecord } from '@mmctr/contracts';

/** A score_log row (every column: 18.16 ignores column DEFAULTs on JSONEachRow inserts). */
export interface ScoreLogRow {
  request_id: string;
  ts_ms: number;
  event_time: number;
  user_id: string;
  model_version: string;
  feature_spec_version: string;
  shadow_model_version: string;
  history_item_ids: string[];
  history_ts_ms: number[];
  item_ids: string[];
  positions: number[];
  ctrs: number[];
  shadow_ctrs: number[];
  degraded: number;
  ingested_at: number;
  /** JSON text of the record's `context`, `candidate_context`, `sequences` and `aggregates` ('' when it has none). */
  context_json: string;
  candidate_context_json: string;
  sequences_json: string;
  aggregates_json: string;
  /** The table's fixed context columns, each from the context attribute of its name ('' when none). */
  [legacyContextColumn: string]: string | number | string[] | number[];
}

const jsonText = (v: unknown): string => (v === undefined ? '' : JSON.stringify(v));

/** A context value in a String column: strings as they are, others as their JSON text. */
const columnText = (v: unknown): string =>
  v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);

/** `legacyColumns`: the table's fixed String columns that hold a request context attribute of that name. */
export function toScoreLogRow(
  r: ScoreLogRecord,
  nowMs: number,
  legacyColumns: readonly string[] = [],
): ScoreLogRow {
  const legacy = Object.fromEntries(legacyColumns.map((c) => [c, columnText(r.context?.[c])]));
  return {
    request_id: r.request_id,
    ts_ms: r.ts_ms,
    event_time: Math.floor(r.ts_ms / 1000),
    user_id: r.user_id,
    model_version: r.model_version,
    feature_spec_version: r.feature_spec_version,
    shadow_model_version: r.shadow_model_version ?? '',
    ...legacy,
    history_item_ids: r.history_item_ids,
    history_ts_ms: r.history_ts_ms ?? [],
    item_ids: r.item_ids,
    positions: r.positions,
    ctrs: r.ctrs,
    shadow_ctrs: r.shadow_ctrs ?? [],
    degraded: r.degraded ? 1 : 0,
    ingested_at: Math.floor(nowMs / 1000),
    context_json: jsonText(r.context),
    candidate_context_json: jsonText(r.candidate_context),
    sequences_json: jsonText(r.sequences),
    aggregates_json: jsonText(r.aggregates),
  };
}

/**
 * Decodes one Kafka value (size limit, strict UTF-8, JSON, contract); the scores topic carries large
 * slates. Invalid UTF-8 is refused, never rewritten to U+FFFD, so the record is dead-lettered as sent.
 */
export function decodeScoreLog(raw: Buffer | null, maxBytes: number): Decoded<ScoreLogRecord> {
  return decodeWith(raw, (v) => validate('scoreLog', v), maxBytes);
}
