import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import { RowBinaryWriter } from '@mmctr/clickhouse';
import { itemFeatures, type ItemFeatures } from '@mmctr/online-store';

// Every column is sent: 18.16 fills omitted JSONEachRow fields with the type's zero, not the DEFAULT.
// DateTime columns take epoch seconds.

export interface EventRow {
  event_id: string;
  type: string;
  ts_ms: number;
  event_time: number;
  user_id: string;
  item_id: string;
  request_id: string;
  position: number;
  device: string;
  placement: string;
  country: string;
  value: number;
  schema_version: number;
  ingested_at: number;
}

/** An item's `items` row: the features the online store keeps, plus the table's bookkeeping columns. */
export interface ItemRow extends ItemFeatures {
  updated_at: number;
  schema_version: number;
  ingested_at: number;
}

export const epochSeconds = (ms: number): number => Math.floor(ms / 1000);

export function eventRow(e: BehaviourEvent, ingestedAtS: number): EventRow {
  return {
    event_id: e.event_id,
    type: e.type,
    ts_ms: e.ts_ms,
    event_time: epochSeconds(e.ts_ms),
    user_id: e.user_id,
    item_id: e.item_id,
    request_id: e.request_id,
    position: e.position ?? 0,
    device: e.context?.device ?? '',
    placement: e.context?.placement ?? '',
    country: e.context?.country ?? '',
    value: e.value ?? 0,
    schema_version: e.schema_version,
    ingested_at: ingestedAtS,
  };
}

/** The `events` columns in the order `encodeEvents` writes them. */
export const EVENT_COLUMNS = [
  'event_id',
  'type',
  'ts_ms',
  'event_time',
  'user_id',
  'item_id',
  'request_id',
  'position',
  'device',
  'placement',
  'country',
  'value',
  'schema_version',
  'ingested_at',
] as const satisfies readonly (keyof EventRow)[];

/** Enum8 values of `events.type` (migrations/0001_events.sql). */
const EVENT_TYPE_CODE: Record<BehaviourEvent['type'], number> = { impression: 1, click: 2, conversion: 3 };

/**
 * The same rows as `eventRow`, encoded as RowBinary for the hot insert path: ClickHouse then spends a
 * fraction of the CPU it needs to parse JSONEachRow (measured in bench/ingest).
 */
export function encodeEvents(events: readonly BehaviourEvent[], ingestedAtS: number): Buffer {
  const w = new RowBinaryWriter(Math.max(1024, events.length * 160));
  for (const e of events) {
    w.string(e.event_id)
      .int8(EVENT_TYPE_CODE[e.type])
      .uint64(e.ts_ms)
      .dateTime(epochSeconds(e.ts_ms))
      .string(e.user_id)
      .string(e.item_id)
      .string(e.request_id)
      .uint16(e.position ?? 0)
      .string(e.context?.device ?? '')
      .string(e.context?.placement ?? '')
      .string(e.context?.country ?? '')
      .float64(e.value ?? 0)
      .uint8(e.schema_version)
      .dateTime(ingestedAtS);
  }
  return w.bytes();
}

export function itemRow(i: CatalogueItem, ingestedAtS: number): ItemRow {
  return {
    ...itemFeatures(i),
    updated_at: epochSeconds(i.ts_ms),
    schema_version: i.schema_version,
    ingested_at: ingestedAtS,
  };
}
