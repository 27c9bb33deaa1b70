import Redis, { Cluster, type RedisOptions } from 'ioredis';
import type { AppConfig } from '@mmctr/config';

/** REDIS_URL, and REDIS_CLUSTER_NODES where a deployment runs a Redis Cluster. */
export type RedisSettings = Pick<AppConfig, 'REDIS_URL'> & Partial<Pick<AppConfig, 'REDIS_CLUSTER_NODES'>>;

/**
 * A client on REDIS_URL or, when REDIS_CLUSTER_NODES is set, a Redis Cluster client seeded with those
 * nodes (user, password, database-less TLS taken from REDIS_URL). It is typed as Redis: the cluster client
 * has the same command, pipeline and script API, and the online store keeps each pipeline and script
 * call within one hash slot (SlotBatch) as a cluster requires.
 */
export function connectRedis(config: RedisSettings, options: RedisOptions): Redis {
  const nodes = config.REDIS_CLUSTER_NODES;
  if (!nodes || nodes.length === 0) return new Redis(config.REDIS_URL, options);
  const url = new URL(config.REDIS_URL);
  const { lazyConnect, enableOfflineQueue, enableAutoPipelining, retryStrategy, ...perNode } = options;
  const cluster = new Cluster(
    nodes.map((n) => {
      const cut = n.lastIndexOf(':');
      return { host: n.slice(0, cut).replace(/^\[|\]$/g, ''), port: Number(n.slice(cut + 1)) };
    }),
    {
      lazyConnect,
      enableOfflineQueue,
      enableAutoPipelining,
      clusterRetryStrategy: retryStrategy && ((attempt) => retryStrategy(attempt)),
      redisOptions: {
        ...perNode,
        username: decodeURIComponent(url.username) || undefined,
        password: decodeURIComponent(url.password) || undefined,
        ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
      },
    },
  );
  return cluster as unknown as Redis;
}

export interface RedisClientOptions {
  lazyConnect?: boolean;
  /** Coalesce commands issued in the same tick into one write (many concurrent small calls). */
  autoPipelining?: boolean;
}

export function createRedis(
  config: RedisSettings,
  { lazyConnect = false, autoPipelining = false }: RedisClientOptions = {},
): Redis {
  return connectRedis(config, {
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
export function createBullRedis(config: RedisSettings, { blocking = true } = {}): Redis {
  return connectRedis(config, {
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
