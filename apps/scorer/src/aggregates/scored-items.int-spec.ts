// The warm-up's ranking read on the real ClickHouse (a database of this test's own, migrated): the
// score log's candidates counted over the lookback, most scored first, then laid over the item cache.
import { SCHEMA_VERSION, type ScoreLogRecord } from '@mmctr/contracts';
import { TestDatabase } from '../../../../test/support/ingest/test-database';
import { aggregatesLayout } from '../../test/support/aggregate-layout';
import { ItemCache } from '../items/item-cache';
import { toScoreLogRow } from '../score-log-sink/score-log-row';
import { warmOrder } from './aggregate-warmup.service';
import { ScoredItemsRepository } from './scored-items.repository';

jest.setTimeout(120_000);

const MIN = 60_000;

function scored(requestId: string, tsMs: number, itemIds: string[]): ScoreLogRecord {
  return {
    schema_version: SCHEMA_VERSION,
    request_id: requestId,
    ts_ms: tsMs,
    user_id: 'u1',
    model_version: 'm1',
    feature_spec_version: 'fs-1',
    history_item_ids: [],
    item_ids: itemIds,
    positions: itemIds.map((_, i) => i),
    ctrs: itemIds.map(() => 0.1),
    degraded: false,
  };
}

describe('ScoredItemsRepository (real ClickHouse)', () => {
  const db = new TestDatabase();
  const now = Date.now();

  beforeAll(async () => {
    await db.create();
    await db.migrate();
    const records = [
      scored('r1', now - 5 * MIN, ['i3', 'i1', 'i0']),
      scored('r2', now - 10 * MIN, ['i3', 'i1']),
      scored('r3', now - 20 * MIN, ['i3', 'i4']),
      // Before a 30-minute lookback: ranks i2 first only over the longer one.
      scored('r4', now - 50 * MIN, ['i2']),
      scored('r5', now - 55 * MIN, ['i2']),
      scored('r6', now - 58 * MIN, ['i2']),
      scored('r7', now - 59 * MIN, ['i2']),
    ];
    const rows = records.map((r) => toScoreLogRow(r, now, ['device', 'placement', 'country']));
    await db.clickhouse.insert('score_log', rows);
  });

  afterAll(() => db.drop());

  it('counts the candidates scored since the lookback start, most scored first, ties by id, at most the limit', async () => {
    const repo = new ScoredItemsRepository(db.clickhouse);
    const since = (minutes: number) => Math.floor((now - minutes * MIN) / 1000);
    expect(await repo.mostScored(since(30), 10, 5_000)).toEqual([
      { item_id: 'i3', n: 3 },
      { item_id: 'i1', n: 2 },
      { item_id: 'i0', n: 1 },
      { item_id: 'i4', n: 1 },
    ]);
    expect(await repo.mostScored(since(60), 2, 5_000)).toEqual([
      { item_id: 'i2', n: 4 },
      { item_id: 'i3', n: 3 },
    ]);
    expect(await repo.mostScored(since(1), 10, 5_000)).toEqual([]);
  });

  it('puts the ranked items that the item cache holds first, then the cache order', async () => {
    const cache = new ItemCache(aggregatesLayout());
    for (const id of ['i0', 'i1', 'i2', 'i4', 'i5'])
      cache.upsertItem({ item_id: id, ts_ms: 0, attributes: { category: 'books' } });
    const ranked = await new ScoredItemsRepository(db.clickhouse).mostScored(
      Math.floor((now - 30 * MIN) / 1000),
      4,
      5_000,
    );
    // i3 is ranked first but not cached (no longer in the catalogue): skipped.
    const { rows, fromFirst } = warmOrder(
      cache,
      4,
      ranked.map((r) => r.item_id),
    );
    expect(Array.from(rows, (r) => cache.itemId(r))).toEqual(['i1', 'i0', 'i4', 'i2']);
    expect(fromFirst).toBe(3);
  });
});
