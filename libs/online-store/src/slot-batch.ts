import type Redis from 'ioredis';

const SLOTS = 16_384;

/** CRC16/XMODEM, the checksum Redis Cluster hashes keys with. */
function crc16(bytes: Buffer): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/**
 * The Redis Cluster hash slot of `key`: of its hash tag (the text between the first `{` and the next
 * `}`, when not empty) or else of the whole key.
 */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  return crc16(Buffer.from(hashed)) % SLOTS;
}

/** The slot a command on `key` must share with the others of one call: all one group on a single server. */
export const slotGroup = (redis: Redis, key: string): number => (redis.isCluster ? keySlot(key) : 0);

type Pipeline = ReturnType<Redis['pipeline']>;

function throwOnError(results: [Error | null, unknown][] | null): unknown[] {
  if (!results) throw new Error('redis pipeline was discarded');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

/**
 * Commands sent together, results in the order they were added. On a single server they share one
 * pipeline (one round trip). A Redis Cluster runs a pipeline on one node only, so there each hash slot
 * gets its own pipeline and the pipelines run concurrently.
 */
export class SlotBatch<P extends Pipeline = Pipeline> {
  private readonly pipelines = new Map<number, P>();
  private readonly order: [P, number][] = [];

  constructor(private readonly redis: Redis) {}

  /** The pipeline to add one command on `key` to (add exactly one). */
  on(key: string): P {
    const slot = slotGroup(this.redis, key);
    let pipeline = this.pipelines.get(slot);
    if (!pipeline) this.pipelines.set(slot, (pipeline = this.redis.pipeline() as P));
    this.order.push([pipeline, pipeline.length]);
    return pipeline;
  }

  /** Runs every command; the first error is thrown. */
  async exec(): Promise<unknown[]> {
    const results = new Map<P, unknown[]>();
    await Promise.all(
      [...this.pipelines.values()].map(async (p) => results.set(p, throwOnError(await p.exec()))),
    );
    return this.order.map(([p, i]) => results.get(p)![i]);
  }
}

/** `entries` grouped by the hash slot of their key (one group on a single server), in first-seen order. */
export function groupBySlot<T>(redis: Redis, entries: Iterable<[string, T]>): [string, T][][] {
  const groups = new Map<number, [string, T][]>();
  for (const entry of entries) {
    const slot = slotGroup(redis, entry[0]);
    let group = groups.get(slot);
    if (!group) groups.set(slot, (group = []));
    group.push(entry);
  }
  return [...groups.values()];
}
