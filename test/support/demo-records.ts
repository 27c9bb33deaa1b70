/**
 * One valid demo impression and one valid demo item: the baseline that contract specs vary field by
 * field (the JSON Schemas of libs/contracts and the demo repository's compiled contracts accept both).
 */
export const DEMO_IMPRESSION = {
  schema_version: 1,
  event_id: 'e-1',
  type: 'impression',
  ts_ms: 1_767_225_600_000,
  user_id: 'u1',
  item_id: 'i1',
  request_id: 'r1',
  position: 3,
  context: { device: 'mobile', placement: 'feed' },
};

export const DEMO_ITEM = {
  schema_version: 1,
  item_id: 'i1',
  ts_ms: 1_767_225_600_000,
  title: 't',
  tags: ['a'],
};
