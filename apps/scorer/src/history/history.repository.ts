import { Inject, Injectable } from '@nestjs/common';
import { OnlineStore } from '@mmctr/online-store';

/** The user's recent behaviour (item ids, newest first) from the online store. */
@Injectable()
export class HistoryRepository {
  constructor(@Inject(OnlineStore) private readonly store: OnlineStore) {}

  /** The user's newest clicked items, newest first; with `beforeMs`, only those strictly before it. */
  async recentItemIds(userId: string, limit: number, beforeMs?: number): Promise<string[]> {
    const entries = await this.store.getHistory(userId, limit);
    return entries.filter((e) => beforeMs === undefined || e.ts_ms < beforeMs).map((e) => e.item_id);
  }
}
