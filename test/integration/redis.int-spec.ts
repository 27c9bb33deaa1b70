import { createRedis, redisHealth } from '@mmctr/online-store';
import { testConfig, uniqueName } from '../support/clients';

describe('Redis', () => {
  it('answers and stores values', async () => {
    const redis = createRedis(testConfig());
    try {
      expect(await redisHealth(redis)).toEqual({ ok: true });
      const key = uniqueName('mmctr:test');
      await redis.set(key, 'v', 'EX', 60);
      expect(await redis.get(key)).toBe('v');
      await redis.del(key);
    } finally {
      redis.disconnect();
    }
  });
});
