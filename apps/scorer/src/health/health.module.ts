import type { DynamicModule } from '@nestjs/common';
import { ObservabilityModule } from '@mmctr/observability';
import { ItemCacheService } from '../items/item-cache.service';
import { ItemOnlineRepository } from '../items/item-online.repository';
import { ItemsModule } from '../items/items.module';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { ModelManager } from '../model/model-manager.service';
import { ModelModule } from '../model/model.module';
import { scorerReadiness } from './scorer-readiness';

/** `/health/live`, `/health/ready` (scorerReadiness) and `/metrics` (ScorerMetrics' registry). */
export const HealthModule: DynamicModule = ObservabilityModule.forRoot({
  imports: [ModelModule, ItemsModule],
  metrics: ScorerMetrics,
  inject: [ModelManager, ItemCacheService, ItemOnlineRepository],
  readiness: (models: ModelManager, items: ItemCacheService, online: ItemOnlineRepository) =>
    scorerReadiness(models, items, online),
});
