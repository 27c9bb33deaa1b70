import { Inject, Injectable } from '@nestjs/common';
import { OnlineStore, type HistoryEntry } from '@mmctr/online-store';
import { SERVING_LAYOUT } from '../layout/layout.module';
import type { ServingLayout } from '../layout/serving-layout';

/** What a request reads of its requester: each sequence's entries and its entity hash. */
export interface RequesterData {
  /** Per layout sequence, newest first (target keys in `item_id`). */
  sequences: HistoryEntry[][];
  /** The requester's attributes as stored (null: no hash, or the layout reads none). */
  attributes: Record<string, unknown> | null;
}

/** The requester's recent behaviour and profile from the online store, in one round trip. */
@Injectable()
export class HistoryRepository {
  private readonly lists: { keyInfix: string; limit: number }[];
  private readonly entity: { name: string; attributes: string[] } | undefined;

  constructor(
    private readonly store: OnlineStore,
    @Inject(SERVING_LAYOUT) layout: ServingLayout,
  ) {
    this.lists = layout.sequences.map((s) => ({ keyInfix: s.keyInfix, limit: s.length }));
    const attributes = layout.requesterAttributes.map((a) => a.name);
    this.entity = attributes.length ? { name: layout.requesterEntity, attributes } : undefined;
  }

  /** The requester's data; with `beforeMs`, only entries strictly before it. */
  async read(userId: string, beforeMs?: number): Promise<RequesterData> {
    const { lists, entity } = await this.store.readOwner(userId, this.lists, this.entity);
    const sequences = beforeMs === undefined ? lists : lists.map((l) => l.filter((e) => e.ts_ms < beforeMs));
    return { sequences, attributes: entity };
  }
}
