import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import { loadConfig } from '@mmctr/config';
import { AggregateCounters, AggregateWindowReader, keyRows, type WindowRef } from '@mmctr/aggregates';
import { OnlineStore, createRedis, keySlot } from '@mmctr/online-store';
import { demoWithAggregations } from '../integration/aggregates/demo-aggregations';
import { asBatch, countedEvents } from '../support/aggregates/counted-events';

/**
 * Windowed aggregate counters on the Redis Cluster (3 primaries + 3 replicas): the same events
 * counted there and on one Redis server give the same value for every key and window, through
 * ingest's writer (redelivered batches counted once) and through the scorer's reader. Their key
 * groups spread over the slots, each group's script call staying in one.
 */
const H = 3_600_000;
const repo = demoWithAggregations();
const REFS: WindowRef[] = (repo.aggregations ?? []).flatMap((a) =>
  a.windows.map((window) => ({ aggregation: a.name, window })),
);

describe('aggregate counters on the Redis Cluster', () => {
  const config = loadConfig();
  const prefix = `mmctr-agg-cl:${Date.now()}-${randomBytes(3).toString('hex')}:`;
  const now = Date.now();
  // Over the last 8 days: every tier's buckets, and some events older than any window.
  const raw = countedEvents(1_200, {
    id: (k, i) => `${prefix}${k}${i}`,
    tsMs: (i) => now - ((i * 7_919) % (8 * 24 * H)),
    users: 40,
    items: 30,
    clickEvery: 4,
    mobileEvery: 3,
    valueDivisor: 8,
  });
  const batch = asBatch(raw);
  let cluster: Redis;
  let single: Redis;

  const counters = (redis: Redis) => {
    const store = new OnlineStore(redis, { keyPrefix: prefix, types: ['click'], cap: 100, historyTtlS: 0 });
    return new AggregateCounters(redis, repo, {
      keyPrefix: prefix,
      entityHash: { key: (_entity, id) => store.itemKey(id), decode: (_entity, raw) => raw },
    });
  };
  const reader = (redis: Redis) =>
    new AggregateWindowReader(redis, repo, REFS, {
      keyPrefix: prefix,
      cacheEntries: 10_000,
      rollMaxValues: 512,
    });
  const keys = () => {
    const items = [...new Set(raw.map((e) => e.item_id))].map((i) => [i]);
    const users = [...new Set(raw.map((e) => e.user_id))].map((u) => [u, '']);
    return new Map([
      ['item', keyRows(items)],
      ['user+item.category', keyRows(users)],
    ]);
  };

  beforeAll(() => {
    if (!config.REDIS_CLUSTER_NODES)
      throw new Error('REDIS_CLUSTER_NODES is not set (deploy/local/cluster.env)');
    cluster = createRedis(config);
    single = createRedis({ REDIS_URL: process.env.SINGLE_REDIS_URL ?? 'redis://127.0.0.1:16379' });
  });

  /** The test's keys on every primary of `redis` (KEYS on a cluster client asks one node only). */
  const written = async (redis: Redis): Promise<[Redis, string[]][]> => {
    const nodes = redis.isCluster
      ? (redis as unknown as { nodes(role: 'master'): Redis[] }).nodes('master')
      : [redis];
    return Promise.all(nodes.map(async (n): Promise<[Redis, string[]]> => [n, await n.keys(`${prefix}*`)]));
  };

  afterAll(async () => {
    for (const redis of [cluster, single]) {
      // One key per DEL: a cluster node refuses keys of several slots in one command.
      for (const [node, stale] of await written(redis)) await Promise.all(stale.map((k) => node.del(k)));
      redis.disconnect();
    }
  });

  it('counts a redelivered batch once, as one server does, over many slots', async () => {
    expect(cluster.isCluster).toBe(true);
    const [onCluster, onSingle] = [counters(cluster), counters(single)];
    const halves = [batch.slice(0, 600), batch.slice(300)]; // the second redelivers 300 events
    for (const part of halves) {
      expect(await onCluster.record(part, now)).toBe(await onSingle.record(part, now));
    }
    expect(await onCluster.record(batch, now)).toBe(0);

    const perNode = await written(cluster);
    expect(perNode.filter(([, ks]) => ks.length > 0)).toHaveLength(3);
    expect(new Set(perNode.flatMap(([, ks]) => ks).map(keySlot)).size).toBeGreaterThan(10);

    for (const [name, key] of [
      ['item_impressions', [`${prefix}i3`]],
      ['item_ctr', [`${prefix}i7`]],
      ['item_mobile_value', [`${prefix}i11`]],
      ['user_category_clicks', [`${prefix}u5`, '']],
    ] as const) {
      expect(await onCluster.values(name, key, now)).toEqual(await onSingle.values(name, key, now));
    }
  });

  it("answers the scorer's reads as one server does", async () => {
    const a = await reader(cluster).read(keys(), now);
    const b = await reader(single).read(keys(), now);
    expect(a.map((w) => Array.from(w))).toEqual(b.map((w) => Array.from(w)));
    // Not all zero: the events reached the windows.
    expect(a.some((w) => w.some((v) => v > 0))).toBe(true);
  });
});
