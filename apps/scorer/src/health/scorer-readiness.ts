import type { ReadinessProbe } from '@mmctr/observability';
import type { ItemCacheService } from '../items/item-cache.service';
import type { ItemOnlineRepository } from '../items/item-online.repository';
import type { ModelManager } from '../model/model-manager.service';

/**
 * Ready once a model serves; lists the versions refused for features the running repository lacks. Redis and the item cache only degrade answers, so they are reported (Redis
 * through the online repository's ping), not required.
 */
export function scorerReadiness(
  models: Pick<ModelManager, 'ready' | 'version' | 'refused'>,
  items: Pick<ItemCacheService, 'isLoaded' | 'cache'>,
  online: Pick<ItemOnlineRepository, 'ping'>,
): ReadinessProbe {
  return async () => {
    const ready = models.ready;
    return {
      ready,
      body: {
        status: ready ? 'ready' : 'not_ready',
        model_version: models.version('production') ?? null,
        shadow_model_version: models.version('shadow') ?? null,
        refused_models: models.refused(),
        item_cache: { loaded: items.isLoaded, rows: items.cache.size },
        redis: await online.ping(),
      },
    };
  };
}
