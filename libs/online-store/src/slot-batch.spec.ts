import { embeddingQueueRef } from './item-embedding-queue';
import { keySlot } from './slot-batch';

describe('keySlot', () => {
  it('matches the slots Redis Cluster computes', () => {
    // CLUSTER KEYSLOT of each key on a Redis server.
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('mmctr:hist:u1')).toBe(keySlot('mmctr:hist:u1'));
  });

  it('hashes the hash tag only: the first {...} that is not empty', () => {
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('{}user1000')).not.toBe(keySlot('user1000'));
    expect(keySlot('foo{}{bar}')).toBe(keySlot('foo{}{bar}'));
    expect(keySlot('foo{{bar}}zap')).toBe(keySlot('{bar'));
  });
});

describe('embeddingQueueRef', () => {
  const base = { EMBEDDINGS_QUEUE: 'item-embeddings', BULLMQ_PREFIX: 'bull' };

  it('keeps the prefix on a single server', () => {
    expect(embeddingQueueRef(base)).toEqual({ name: 'item-embeddings', prefix: 'bull' });
  });

  it('makes the prefix a hash tag on a Redis Cluster, unless it has one', () => {
    const cluster = { ...base, REDIS_CLUSTER_NODES: ['127.0.0.1:7000'] };
    expect(embeddingQueueRef(cluster).prefix).toBe('{bull}');
    expect(embeddingQueueRef({ ...cluster, BULLMQ_PREFIX: 'mm{q}' }).prefix).toBe('mm{q}');
  });
});
