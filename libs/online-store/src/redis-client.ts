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

/**
 * The connection for BullMQ queues and workers, from REDIS_URL (password, database and rediss: TLS
 * included). Workers block on Redis and need `blocking` (commands wait out an outage); a read-only
 * queue handle (metrics, the dashboard) passes false so a call fails while Redis is down.
 */
export function createBullRedis(config: Pick<AppConfig, 'REDIS_URL'>, { blocking = true } = {}): Redis {
  return new Redis(config.REDIS_URL, {
    maxRetriesPerRequest: blocking ? null : 1,
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
