import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { OnlineStore, connectRedis, onlineStoreFromConfig } from '@mmctr/online-store';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';

export const SCORER_REDIS = Symbol('SCORER_REDIS');

/**
 * The scorer's own Redis connection: commands time out after the request budget and fail at once
 * while disconnected (no offline queue), so a Redis blip degrades a response instead of stalling it.
 */
export function createScorerRedis(config: AppConfig, scorer: ScorerConfig): Redis {
  const redis = connectRedis(config, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: scorer.SCORER_REDIS_TIMEOUT_MS,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2_000),
  });
  // Errors surface on the commands; the connection keeps retrying in the background.
  redis.on('error', () => undefined);
  redis.connect().catch(() => undefined);
  return redis;
}

@Global()
@Module({
  providers: [
    { provide: SCORER_REDIS, inject: [APP_CONFIG, SCORER_CONFIG], useFactory: createScorerRedis },
    {
      provide: OnlineStore,
      inject: [SCORER_REDIS, APP_CONFIG],
      useFactory: (redis: Redis, c: AppConfig) => onlineStoreFromConfig(redis, c),
    },
  ],
  exports: [SCORER_REDIS, OnlineStore],
})
export class ScorerRedisModule implements OnApplicationShutdown {
  constructor(@Inject(SCORER_REDIS) private readonly redis: Redis) {}

  onApplicationShutdown(): void {
    this.redis.disconnect();
  }
}
