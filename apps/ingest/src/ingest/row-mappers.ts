import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import { contentHash } from '@mmctr/online-store';

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

export interface ItemRow {
  item_id: string;
  ts_ms: number;
  updated_at: number;
  title: string;
  description: string;
  category: string;
  tags: string[];
  image: string;
  content_hash: string;
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

export function itemRow(i: CatalogueItem, ingestedAtS: number): ItemRow {
  return {
    item_id: i.item_id,
    ts_ms: i.ts_ms,
    updated_at: epochSeconds(i.ts_ms),
    title: i.title,
    description: i.description ?? '',
    category: i.category ?? '',
    tags: i.tags ?? [],
    image: i.image ?? '',
    content_hash: contentHash(i),
    schema_version: i.schema_version,
    ingested_at: ingestedAtS,
  };
}
