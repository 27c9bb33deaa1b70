import Redis, { Cluster } from 'ioredis';

export interface DeleteKeysOptions {
  /** Of the keys the pattern matches, those to delete (default: all). */
  doomed?: (key: string) => boolean;
  /** Hears the running count of keys deleted. */
  progress?: (deleted: number) => void;
  /** Keys SCAN reads per round trip. */
  count?: number;
}

/**
 * Deletes the keys matching the SCAN `pattern` (those `doomed` picks), on every primary of a Redis
 * Cluster, since SCAN is per node; returns how many went. UNLINK frees the values off Redis' main
 * thread, one key per command: on a cluster, the keys of one page live in many hash slots.
 */
export async function deleteKeysMatching(
  redis: Redis | Cluster,
  pattern: string,
  { doomed = () => true, progress, count = 1000 }: DeleteKeysOptions = {},
): Promise<number> {
  const nodes: Redis[] = redis instanceof Cluster ? redis.nodes('master') : [redis];
  let deleted = 0;
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      const gone = keys.filter(doomed);
      if (gone.length) {
        const pipeline = node.pipeline();
        for (const k of gone) pipeline.unlink(k);
        await pipeline.exec();
        deleted += gone.length;
        progress?.(deleted);
      }
    } while (cursor !== '0');
  }
  return deleted;
}
