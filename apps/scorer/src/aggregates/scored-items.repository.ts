import { Injectable } from '@nestjs/common';
import { ClickHouseService, limitLiteral } from '@mmctr/clickhouse';

export interface ScoredItem {
  item_id: string;
  n: number;
}

/** What the scorer itself scored, read back from the score log (migrations/0003). */
@Injectable()
export class ScoredItemsRepository {
  constructor(private readonly ch: ClickHouseService) {}

  /**
   * The candidates scored since `sinceS` (unix seconds), most often scored first, at most `limit`.
   * Not FINAL: a replayed request counts twice, which a ranking can bear and a start-up read should not
   * pay for. After `maxMs` the server stops reading and ranks what it has read (timeout_overflow_mode
   * 'break'), so a large log costs the start at most that long.
   */
  async mostScored(sinceS: number, limit: number, maxMs: number): Promise<ScoredItem[]> {
    const rows = await this.ch.query<{ item_id: string; n: string | number }>(
      `SELECT item_id, count() AS n
       FROM score_log ARRAY JOIN item_ids AS item_id
       WHERE event_time >= toDateTime({since:UInt32})
       GROUP BY item_id ORDER BY n DESC, item_id LIMIT ${limitLiteral(limit)}`,
      { since: sinceS },
      { max_execution_time: Math.max(1, Math.ceil(maxMs / 1000)), timeout_overflow_mode: 'break' },
    );
    return rows.map((r) => ({ item_id: r.item_id, n: Number(r.n) }));
  }
}
