import type { ScoreLogRecord } from '@mmctr/contracts';

/** A small valid score log record for unit tests: request r<i> of user u<i>, one CTR per item. */
export const testScoreLogRecord = (
  i: number,
  ctrs: Record<string, number> = { a: 0.25 },
): ScoreLogRecord => ({
  schema_version: 1,
  request_id: `r${i}`,
  ts_ms: 1_764_000_000_000 + i,
  user_id: `u${i}`,
  model_version: 'm1',
  feature_spec_version: 's1',
  history_item_ids: [],
  item_ids: Object.keys(ctrs),
  positions: Object.keys(ctrs).map((_, k) => k),
  ctrs: Object.values(ctrs),
  degraded: false,
});
