import type { EventRow } from '../ingest/demo-rows';
import { scoreLogRow } from './score-log-row';

let seq = 0;

export type EventType = 'impression' | 'click' | 'conversion';
/** An `events` row as ingest writes it, with the event type narrowed. */
export type Ev = EventRow & { type: EventType };

export function ev(type: EventType, atS: number, request: string, item: string, value = 0): Ev {
  return {
    event_id: `e${++seq}`,
    type,
    ts_ms: atS * 1000,
    event_time: atS,
    user_id: `u-${request}`,
    item_id: item,
    request_id: request,
    position: 0,
    device: 'web',
    placement: 'feed',
    country: 'DE',
    value,
    schema_version: 1,
    ingested_at: Math.floor(Date.now() / 1000),
  };
}

export function scoreRow(
  request: string,
  atS: number,
  model: string,
  items: string[],
  ctrs: number[],
  degraded = 0,
) {
  return scoreLogRow({
    request_id: request,
    ts_ms: atS * 1000,
    event_time: atS,
    user_id: `u-${request}`,
    model_version: model,
    device: 'web',
    item_ids: items,
    ctrs,
    degraded,
    ingested_at: Math.floor(Date.now() / 1000),
  });
}

/** An ingest_batches row: a batch of `rows` stored at `atS` on `topic`. */
export function batch(
  atS: number,
  topic: string,
  rows: number,
  invalid: number,
  insertMs: number,
  lagMs: number,
) {
  return {
    ts_ms: atS * 1000,
    event_time: atS,
    consumer: 'ingest-1',
    topic,
    partition: 0,
    first_offset: 0,
    last_offset: rows - 1,
    rows,
    invalid,
    insert_ms: insertMs,
    max_event_lag_ms: lagMs,
  };
}
