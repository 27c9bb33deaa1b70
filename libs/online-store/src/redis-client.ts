import Redis from 'ioredis';
import type { AppConfig } from '@mmctr/config';

export interface RedisClientOptions {
  lazyConnect?: boolean;
  /** Coalesce commands issued in the same tick into one write (many concurrent small calls). */
  autoPipelining?: boolean;
}

export function createRedis(
  config: Pick<AppConfig, 'REDIS_URL'>,
  { lazyConnect = false, autoPipelining = false }: RedisClientOptions = {},
): Redis {
  return new Redis(config.REDIS_URL, {
    lazyConnect,
    enableAutoPipelining: autoPipelining,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 5_000),
  });
}

export async function redisHealth(redis: Redis): Promise<{ ok: boolean; error?: string }> {
  try {
    return { ok: (await redis.ping()) === 'PONG' };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}
