import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import { itemFeatures, type ItemFeatures } from '@mmctr/online-store';

// The demo tables' rows as plain objects: what ingest's compiled encoders store for a demo event or
// item (tests state expected rows with them). DateTime columns take epoch seconds.

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
    device: e.context?.device ?? e.device ?? '',
    placement: e.context?.placement ?? e.placement ?? '',
    country: e.context?.country ?? e.country ?? '',
    value: e.value ?? 0,
    schema_version: e.schema_version,
    ingested_at: ingestedAtS,
  };
}

export function itemRow(i: CatalogueItem, ingestedAtS: number): ItemRow {
  return {
    ...itemFeatures(i),
    updated_at: epochSeconds(i.ts_ms),
    schema_version: i.schema_version,
    ingested_at: ingestedAtS,
  };
}
