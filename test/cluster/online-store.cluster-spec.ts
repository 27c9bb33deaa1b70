import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import { loadConfig } from '@mmctr/config';
import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import {
  ItemEmbeddingQueue,
  OnlineStore,
  createBullRedis,
  createRedis,
  keySlot,
  referenceHistory,
} from '@mmctr/online-store';
import { DEFAULT_FEATURE_REPO_PATH, loadFeatureRepo } from '@mmctr/feature-repo';
import { ItemOnlineRepository, ServingLayout, type ScorerConfig } from '@mmctr/scorer';

/**
 * The online store on the Redis Cluster (3 primaries + 3 replicas): many users' behaviour in one
 * call, items and entities across slots, the scorer's item read and the embeddings queue.
 */
describe('online store on the Redis Cluster', () => {
  const config = loadConfig();
  const prefix = `mmctr-cl:${Date.now()}-${randomBytes(3).toString('hex')}:`;
  const written: string[] = [];
  let redis: Redis;
  let store: OnlineStore;

  beforeAll(() => {
    if (!config.REDIS_CLUSTER_NODES)
      throw new Error('REDIS_CLUSTER_NODES is not set (deploy/local/cluster.env)');
    redis = createRedis(config);
    store = new OnlineStore(redis, { keyPrefix: prefix, types: ['click'], cap: 5, historyTtlS: 300 });
  });

  afterAll(async () => {
    for (const key of written) await redis.del(key);
    redis.disconnect();
  });

  it('is a cluster client', () => {
    expect(redis.isCluster).toBe(true);
  });

  it('records 300 users in one call, keys over many slots, redelivered and out of order', async () => {
    const events: BehaviourEvent[] = [];
    for (let i = 0; i < 3_000; i++) {
      events.push({
        schema_version: 1,
        event_id: `e${i}`,
        type: i % 3 === 0 ? 'impression' : 'click',
        ts_ms: 1_000 + ((i * 7919) % 5_000),
        user_id: `u${i % 300}`,
        item_id: `it${i % 40}`,
        request_id: `r${i}`,
      });
    }
    const users = [...new Set(events.map((e) => e.user_id))];
    const keys = users.map((u) => store.historyKey(u));
    written.push(...keys);
    expect(new Set(keys.map(keySlot)).size).toBeGreaterThan(100);
    await store.recordBehaviour([...events].reverse());
    await store.recordBehaviour(events.slice(0, 1_500)); // a redelivered half
    const expected = referenceHistory(events, { types: ['click'], cap: 5 });
    for (const user of users) expect(await store.getHistory(user)).toEqual(expected.get(user) ?? []);
  });

  it('upserts items and entities across slots; the scorer reads them back in order', async () => {
    const items: CatalogueItem[] = Array.from({ length: 50 }, (_, i) => ({
      schema_version: 1,
      item_id: `it${i}`,
      ts_ms: 100 + i,
      title: `title ${i}`,
      category: i % 2 ? 'a' : 'b',
      tags: [`t${i}`],
    }));
    written.push(...items.map((i) => store.itemKey(i.item_id)));
    const first = await store.upsertItems(items);
    expect(first.every((u) => u.changed)).toBe(true);
    const ids = ['it7', 'nope', 'it42', 'it0'];
    expect((await store.getItems(ids)).map((f) => f?.title ?? null)).toEqual([
      'title 7',
      null,
      'title 42',
      'title 0',
    ]);

    const scorer = new ItemOnlineRepository(
      redis,
      store,
      { ...config, REDIS_KEY_PREFIX: prefix },
      { SCORER_REDIS_VECTOR_KEY: '{prefix}mm:{item_id}' } as ScorerConfig,
      new ServingLayout(loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH)),
    );
    const online = await scorer.fetch(ids);
    expect(online.map((o) => o?.attributes.category ?? null)).toEqual(['a', null, 'b', 'b']);

    const rows = Array.from({ length: 30 }, (_, i) => ({ adv: `a${i}`, ts_ms: 10, name: `n${i}` }));
    written.push(...rows.map((r) => store.entityKey('advertiser', r.adv)));
    await store.upsertEntities('advertiser', 'adv', ['name'], rows);
    expect(await redis.hget(store.entityKey('advertiser', 'a17'), 'name')).toBe('"n17"');
  });

  it('queues embedding jobs under a hash-tagged prefix', async () => {
    const connection = createBullRedis(config);
    const queue = ItemEmbeddingQueue.fromConfig(connection, {
      ...config,
      EMBEDDINGS_QUEUE: `emb-${randomBytes(3).toString('hex')}`,
    });
    try {
      expect(queue.queue.opts.prefix).toBe(`{${config.BULLMQ_PREFIX}}`);
      const features = (await store.getItems(['it1', 'it2'])).filter((f) => f !== null);
      await queue.enqueue(features);
      await queue.enqueue(features); // the same content again: no new job
      expect(await queue.queue.getJobCounts('waiting')).toMatchObject({ waiting: 2 });
      await queue.queue.obliterate({ force: true });
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });
});
