import type Redis from 'ioredis';
import { loadConfig } from '@mmctr/config';
import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import { createRedis } from './redis-client';
import { OnlineStore } from './online-store';
import { ItemEmbeddingQueue } from './item-embedding-queue';
import { embeddingJobId } from './content-hash';
import { referenceHistory } from './history';
import { embeddingJobItem } from '../../../test/support/embedding-job-item';

const ev = (
  id: number,
  ts: number,
  item = `i${id}`,
  type: BehaviourEvent['type'] = 'click',
): BehaviourEvent => ({
  schema_version: 1,
  event_id: `e${id}`,
  type,
  ts_ms: ts,
  user_id: 'u1',
  item_id: item,
  request_id: 'r',
});

describe('OnlineStore (real Redis)', () => {
  let redis: Redis;
  let store: OnlineStore;
  const prefix = `mmctr-test:os-${Date.now()}-${process.pid}:`;

  beforeAll(() => {
    redis = createRedis(loadConfig());
    store = new OnlineStore(redis, { keyPrefix: prefix, types: ['click'], cap: 5, historyTtlS: 60 });
  });

  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('keeps the newest `cap` clicks, idempotent under redelivery and out-of-order arrival', async () => {
    const events = [
      ev(1, 100),
      ev(2, 500),
      ev(3, 300),
      ev(4, 200, 'x', 'impression'),
      ev(5, 400),
      ev(6, 600),
    ];
    await store.recordBehaviour(events.slice(3)); // later events first
    await store.recordBehaviour(events.slice(0, 4));
    await store.recordBehaviour(events); // redelivery
    await store.recordBehaviour([ev(7, 50), ev(8, 700), ev(9, 250)]); // one too old to enter, one newest
    const all = [...events, ev(7, 50), ev(8, 700), ev(9, 250)];
    const got = await store.getHistory('u1', 10);
    expect(got).toEqual(referenceHistory(all, { types: ['click'], cap: 5 }).get('u1'));
    expect(got.map((h) => h.item_id)).toEqual(['i8', 'i6', 'i2', 'i5', 'i3']);
    expect(await store.getHistory('u1', 2)).toEqual(got.slice(0, 2));
    expect(await store.getHistory('nobody', 5)).toEqual([]);
    expect(await redis.ttl(store.historyKey('u1'))).toBeGreaterThan(0);
  });

  it('matches the reference for batches spanning many script calls (1,200 users, one with 25k clicks)', async () => {
    const big = new OnlineStore(redis, {
      keyPrefix: `${prefix}big:`,
      types: ['click'],
      cap: 7,
      historyTtlS: 0,
    });
    const events: BehaviourEvent[] = [];
    let id = 0;
    // Deterministic pseudo-random timestamps, so arrival order differs from time order.
    const ts = (k: number) => 1_000_000 + ((k * 7919) % 100_003);
    for (let u = 0; u < 1_200; u++)
      for (let k = 0; k < 3; k++) events.push({ ...ev(id, ts(id)), user_id: `u${u}`, event_id: `e${id++}` });
    for (let k = 0; k < 25_000; k++)
      events.push({ ...ev(id, ts(id)), user_id: 'heavy', event_id: `e${id++}` });
    expect(await big.recordBehaviour(events)).toBe(events.length);
    const reference = referenceHistory(events, { types: ['click'], cap: 7 });
    for (const user of ['u0', 'u599', 'u1199', 'heavy'])
      expect(await big.getHistory(user, 10)).toEqual(reference.get(user));
    expect(await redis.zcard(big.historyKey('heavy'))).toBe(7);
    expect(await redis.ttl(big.historyKey('u0'))).toBe(-1); // no TTL when historyTtlS = 0
  });

  it("reads an owner's lists and entity hash in one call, and entity hashes by key, as written", async () => {
    const lists = [
      { keyInfix: '', types: ['click'], ownerKey: 'user_id', targetKey: 'ad_id' },
      { keyInfix: 'buys:', types: ['install'], ownerKey: 'user_id', targetKey: 'ad_id' },
    ];
    const event = (n: number, type: string, ad: string) => ({
      event_id: `owner-${n}`,
      type,
      ts_ms: 1000 + n,
      user_id: 'owner-1',
      ad_id: ad,
    });
    await store.recordLists(
      [event(1, 'click', 'a1'), event(2, 'click', 'a2'), event(3, 'install', 'a3')],
      lists,
    );
    const profile = { user_id: 'owner-1', ts_ms: 7, age_band: '18-24', interests: ['x'], premium: true };
    await store.upsertEntities('user', 'user_id', ['age_band', 'interests', 'premium'], [profile]);
    const read = await store.readOwner(
      'owner-1',
      [
        { keyInfix: '', limit: 1 },
        { keyInfix: 'buys:', limit: 5 },
        { keyInfix: 'none:', limit: 0 },
      ],
      { name: 'user', attributes: ['age_band', 'interests', 'premium', 'gender'] },
    );
    expect(read).toEqual({
      lists: [[{ item_id: 'a2', ts_ms: 1002 }], [{ item_id: 'a3', ts_ms: 1003 }], []],
      // An attribute the hash lacks is absent; values decoded from their JSON.
      entity: { ts_ms: 7, age_band: '18-24', interests: ['x'], premium: true },
    });
    expect(
      (await store.readOwner('nobody', [{ keyInfix: '', limit: 3 }], { name: 'user', attributes: [] }))
        .entity,
    ).toBe(null);
    expect(await store.getEntities('user', ['nobody', 'owner-1'], ['age_band'])).toEqual([
      null,
      { ts_ms: 7, age_band: '18-24' },
    ]);
  });

  it('upserts item features, keeps the newest version and reports content changes', async () => {
    const item = (ts: number, title: string): CatalogueItem => ({
      schema_version: 1,
      item_id: 'shop:1',
      ts_ms: ts,
      title,
      tags: ['a', 'b'],
    });
    const changed: string[][] = [];
    const onChanged = async (items: { title: string }[]) => void changed.push(items.map((i) => i.title));
    await store.upsertItems([item(10, 'v1')], onChanged);
    await store.upsertItems([item(10, 'v1')], onChanged); // unchanged: no change reported
    await store.upsertItems([item(20, 'v2'), item(15, 'v1.5')], onChanged); // newest in the call wins
    await store.upsertItems([item(12, 'late')], onChanged); // older than stored: ignored
    expect(changed).toEqual([['v1'], ['v2']]);
    const [got, missing] = await store.getItems(['shop:1', 'shop:none']);
    expect(got).toMatchObject({
      item_id: 'shop:1',
      ts_ms: 20,
      title: 'v2',
      tags: ['a', 'b'],
      description: '',
    });
    expect(missing).toBeNull();
  });

  it('enqueues one embedding job per item content, whatever the number of adds', async () => {
    const name = `mmctr-test-emb-${Date.now()}-${process.pid}`;
    const q = new ItemEmbeddingQueue(redis.duplicate(), { name });
    try {
      const f = embeddingJobItem('shop:1', 'abc');
      await q.enqueue([f]);
      await q.enqueue([f, { ...f, content_hash: 'def' }]);
      const ids = (await q.queue.getJobs(['waiting'])).map((j) => j.id).sort();
      expect(ids).toEqual([embeddingJobId('shop:1', 'abc'), embeddingJobId('shop:1', 'def')].sort());
    } finally {
      await q.queue.obliterate({ force: true });
      await q.close();
      await (await q.queue.client).quit();
    }
  });
});
