import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { SERVING_LAYOUT } from '../layout/layout.module';
import type { ServingLayout } from '../layout/serving-layout';
import { createScorerRedis } from '../redis/redis.module';
import { AGGREGATE_REDIS, AggregateRepository } from './aggregate.repository';
import { ItemsModule } from '../items/items.module';
import { AggregateReadsService } from './aggregate-reads.service';
import { AggregateWarmupService } from './aggregate-warmup.service';
import { ScoredItemsRepository } from './scored-items.repository';

/**
 * The aggregate reads' Redis connection: its own, so that a command may outlive the request's budget
 * (SCORER_REDIS_TIMEOUT_MS, enforced per request) and a late reply still fills the window cache; a
 * cold read of hundreds of candidates can take longer than one request waits.
 */
function aggregateRedis(config: AppConfig, scorer: ScorerConfig, layout: ServingLayout): Redis | null {
  if (!layout.aggregates.length) return null;
  const commandTimeoutMs = Math.max(2_000, 20 * scorer.SCORER_REDIS_TIMEOUT_MS);
  return createScorerRedis(config, { ...scorer, SCORER_REDIS_TIMEOUT_MS: commandTimeoutMs });
}

@Module({
  imports: [ItemsModule],
  providers: [
    {
      provide: AGGREGATE_REDIS,
      inject: [APP_CONFIG, SCORER_CONFIG, SERVING_LAYOUT],
      useFactory: aggregateRedis,
    },
    AggregateRepository,
    AggregateReadsService,
    ScoredItemsRepository,
    AggregateWarmupService,
  ],
  exports: [AggregateReadsService],
})
export class AggregatesModule implements OnApplicationShutdown {
  constructor(@Inject(AGGREGATE_REDIS) private readonly redis: Redis | null) {}

  onApplicationShutdown(): void {
    this.redis?.disconnect();
  }
}
