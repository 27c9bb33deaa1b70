import { Inject, Injectable } from '@nestjs/common';
import { OnlineStore, type HistoryEntry } from '@mmctr/online-store';

/** The user's recent behaviour (item ids and click times, newest first) from the online store. */
@Injectable()
export class HistoryRepository {
  constructor(@Inject(OnlineStore) private readonly store: OnlineStore) {}

  /** The user's newest clicks, newest first; with `beforeMs`, only those strictly before it. */
  async recent(userId: string, limit: number, beforeMs?: number): Promise<HistoryEntry[]> {
    const entries = await this.store.getHistory(userId, limit);
    return beforeMs === undefined ? entries : entries.filter((e) => e.ts_ms < beforeMs);
  }
}
