import type Redis from 'ioredis';
import { entityVectorKey, mmVectorKey, redisHealth } from '@mmctr/online-store';
import { transient } from '../errors';

/** What the scorer reads: `<prefix>mm:<id>`, a hash (see docs/embedder.md). */
export interface MmVectorEntry {
  itemId: string;
  /** The Redis key (default: the item's `mm:` key; an entity embedding's is entityKey()). */
  key?: string;
  tsMs: number;
  contentHash: string;
  projection: string;
  /** created_ms of the projection (0 when none): a newer projection wins over an older one. */
  projectionMs: number;
  /** The fused vector, or null before any projection exists. */
  vector: Float32Array | null;
}

// Writes unless the stored entry is for newer content, or for the same content under a newer
// projection (a slow job must not undo a refit). KEYS[1] = key; ARGV = ts_ms, content_hash,
// projection, projection_ms, vector bytes ('' = none).
const WRITE_LUA = `
local cur = redis.call('HMGET', KEYS[1], 'ts_ms', 'projection_ms')
if cur[1] then
  local ts, new_ts = tonumber(cur[1]), tonumber(ARGV[1])
  if ts > new_ts then return 0 end
  if ts == new_ts and tonumber(cur[2] or '0') > tonumber(ARGV[4]) then return 0 end
end
redis.call('HSET', KEYS[1], 'ts_ms', ARGV[1], 'content_hash', ARGV[2], 'projection', ARGV[3], 'projection_ms', ARGV[4])
if ARGV[5] == '' then redis.call('HDEL', KEYS[1], 'v') else redis.call('HSET', KEYS[1], 'v', ARGV[5]) end
return 1
`;

export class MmVectorRepository {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
  ) {
    if (!('mmctrWriteMm' in redis)) redis.defineCommand('mmctrWriteMm', { numberOfKeys: 1, lua: WRITE_LUA });
  }

  /** Whether Redis answers (the readiness check). */
  ping(): Promise<{ ok: boolean; error?: string }> {
    return redisHealth(this.redis);
  }

  key(itemId: string): string {
    return mmVectorKey(this.keyPrefix, itemId);
  }

  /** The `emb:` key of an entity's vector of a repository-declared embedding. */
  entityKey(embedding: string, key: string): string {
    return entityVectorKey(this.keyPrefix, embedding, key);
  }

  /** True when the stored entry is for content newer than ts_ms (the job is stale). */
  async hasNewer(itemId: string, tsMs: number, key = this.key(itemId)): Promise<boolean> {
    try {
      const ts = await this.redis.hget(key, 'ts_ms');
      return ts !== null && Number(ts) > tsMs;
    } catch (err) {
      throw transient('storage_failed', `redis: ${(err as Error).message}`);
    }
  }

  /**
   * Returns whether each entry was written (false: a newer one is stored). Each entry is its own
   * script call on the auto-pipelined connection, so concurrent jobs' writes share round trips (an
   * explicit pipeline per call would cost a socket write each, and ioredis re-sends a script's body
   * on every new pipeline).
   */
  async write(entries: readonly MmVectorEntry[]): Promise<boolean[]> {
    const redis = this.redis as Redis & {
      mmctrWriteMm(key: string, ...args: (string | number | Buffer)[]): Promise<number>;
    };
    try {
      const results = await Promise.all(
        entries.map((e) =>
          redis.mmctrWriteMm(
            e.key ?? this.key(e.itemId),
            e.tsMs,
            e.contentHash,
            e.projection,
            e.projectionMs,
            e.vector ? Buffer.from(e.vector.buffer, e.vector.byteOffset, e.vector.byteLength) : '',
          ),
        ),
      );
      return results.map((v) => v === 1);
    } catch (err) {
      throw transient('storage_failed', `redis: ${(err as Error).message}`);
    }
  }

  async read(
    itemId: string,
  ): Promise<{ vector: Float32Array | null; projection: string; contentHash: string; tsMs: number } | null> {
    const key = this.key(itemId);
    const [v, meta] = await Promise.all([
      this.redis.hgetBuffer(key, 'v'),
      this.redis.hmget(key, 'projection', 'content_hash', 'ts_ms'),
    ]);
    if (meta[2] === null) return null;
    const vector = v ? new Float32Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)) : null;
    return { vector, projection: meta[0] ?? '', contentHash: meta[1] ?? '', tsMs: Number(meta[2]) };
  }
}
