import { Inject, Injectable } from '@nestjs/common';
import { OnlineStore } from '@mmctr/online-store';

/** The user's recent behaviour (item ids, newest first) from the online store. */
@Injectable()
export class HistoryRepository {
  constructor(@Inject(OnlineStore) private readonly store: OnlineStore) {}

  async recentItemIds(userId: string, limit: number): Promise<string[]> {
    const entries = await this.store.getHistory(userId, limit);
    return entries.map((e) => e.item_id);
  }
}
