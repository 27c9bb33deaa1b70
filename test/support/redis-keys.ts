import type Redis from 'ioredis';

/** Deletes every key matching `pattern` (SCAN in pages of `count`, then DEL of each page). */
export async function deleteKeysMatching(redis: Redis, pattern: string, count = 1000): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', count);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}
