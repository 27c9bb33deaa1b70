import { Injectable } from '@nestjs/common';
import type { RawValue } from '@mmctr/features';
import { OnlineStore } from '@mmctr/online-store';

/** Snapshot entities other than the candidate's (joined ones, sequence targets) from their Redis hashes. */
@Injectable()
export class EntityOnlineRepository {
  constructor(private readonly store: OnlineStore) {}

  /** Each key's attributes (null where Redis has no hash). One round trip per entity, sent together. */
  async fetch(
    entity: string,
    keys: readonly string[],
    attributes: readonly string[],
  ): Promise<(Record<string, RawValue> | null)[]> {
    return (await this.store.getEntities(entity, keys, attributes)) as (Record<string, RawValue> | null)[];
  }
}
