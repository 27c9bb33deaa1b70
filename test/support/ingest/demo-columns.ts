import type { TableColumn } from '@mmctr/feature-repo';

/** The demo `events` table's columns as migrations/0001_events.sql creates them (system.columns). */
export const DEMO_EVENTS_COLUMNS: readonly TableColumn[] = [
  ['event_id', 'String'],
  ['type', "Enum8('impression' = 1, 'click' = 2, 'conversion' = 3)"],
  ['ts_ms', 'UInt64'],
  ['event_time', 'DateTime'],
  ['user_id', 'String'],
  ['item_id', 'String'],
  ['request_id', 'String'],
  ['position', 'UInt16'],
  ['device', 'String'],
  ['placement', 'String'],
  ['country', 'String'],
  ['value', 'Float64'],
  ['schema_version', 'UInt8'],
  ['ingested_at', 'DateTime'],
].map(([name, type]) => ({ name: name!, type: type! }));
