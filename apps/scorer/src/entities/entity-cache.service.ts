import { Inject, Injectable } from '@nestjs/common';
import type { RawValue } from '@mmctr/features';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { SERVING_LAYOUT } from '../layout/layout.module';
import type { ServingLayout } from '../layout/serving-layout';
import { withTimeout } from '../with-timeout';
import { EntityOnlineRepository } from './entity-online.repository';

/** A cached entity row: its attributes (null: Redis has none) and until when it is trusted. */
interface Cached {
  row: Readonly<Record<string, RawValue>> | null;
  until: number;
}

/** Entries per entity before the map is dropped and refilled (bounds memory for unbounded key spaces). */
const MAX_ENTRIES = 100_000;

/** Keys wanted per entity for one request. */
export type EntityWants = Map<string, Set<string>>;

/**
 * Rows of the entities a request reads raw (joined `via` a key attribute, or a sequence's target other
 * than the candidate entity), cached in process with the item cache's rules: a row read from Redis is
 * served for SCORER_ITEM_CACHE_REFRESH_MS (the item cache's refresh period, so an update shows within
 * the same time) and an unknown key is not asked again for SCORER_NEGATIVE_CACHE_MS.
 */
@Injectable()
export class EntityCacheService {
  private readonly rows = new Map<string, Map<string, Cached>>();

  constructor(
    @Inject(SCORER_CONFIG) private readonly config: ScorerConfig,
    private readonly online: EntityOnlineRepository,
    @Inject(SERVING_LAYOUT) private readonly layout: ServingLayout,
  ) {}

  /** A cached row (undefined: unknown, not fetched, or expired). */
  get(entity: string, key: string): Readonly<Record<string, RawValue>> | undefined {
    const c = this.rows.get(entity)?.get(key);
    return c?.row ?? undefined;
  }

  /**
   * Fetches the wanted keys that are not cached (or expired), every entity's in one round trip;
   * returns false when the fetch failed or timed out (those rows read as missing).
   */
  async load(wants: EntityWants, now = Date.now()): Promise<boolean> {
    const fetches: Promise<void>[] = [];
    for (const [entity, keys] of wants) {
      const cached = this.entityRows(entity);
      const missing = [...keys].filter((k) => k !== '' && !((cached.get(k)?.until ?? 0) > now));
      if (missing.length === 0) continue;
      const attributes = (this.layout.entityAttributes.get(entity) ?? []).map((a) => a.name);
      fetches.push(
        this.online.fetch(entity, missing, attributes).then((found) =>
          found.forEach((row, i) =>
            cached.set(missing[i]!, {
              row,
              until:
                now + (row ? this.config.SCORER_ITEM_CACHE_REFRESH_MS : this.config.SCORER_NEGATIVE_CACHE_MS),
            }),
          ),
        ),
      );
    }
    if (fetches.length === 0) return true;
    const all = Promise.all(fetches);
    all.catch(() => undefined);
    try {
      await withTimeout(all, this.config.SCORER_REDIS_TIMEOUT_MS, 'redis entity fetch');
      return true;
    } catch {
      return false;
    }
  }

  private entityRows(entity: string): Map<string, Cached> {
    let m = this.rows.get(entity);
    if (!m || m.size > MAX_ENTRIES) this.rows.set(entity, (m = new Map<string, Cached>()));
    return m;
  }
}
