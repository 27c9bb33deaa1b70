import type { Admin, Kafka } from 'kafkajs';
import { Cluster } from 'ioredis';
import type Redis from 'ioredis';
import type { AppConfig } from '@mmctr/config';
import type { DemoRunStores } from './commands/demo-runs';
import { createKafka } from '@mmctr/kafka';
import { createRedis } from '@mmctr/online-store';

/** Keys SCAN reads and UNLINK frees per round trip. */
const SCAN_COUNT = 5_000;

/** Kafka topics and consumer groups, and Redis keys, listed and deleted by name (demo runs' leftovers). */
export class DemoRunsRepository implements DemoRunStores {
  private readonly kafka: Kafka;
  private readonly redis: Redis;
  private admin: Admin | undefined;

  constructor(config: AppConfig) {
    this.kafka = createKafka(config);
    this.redis = createRedis(config);
  }

  async topics(): Promise<string[]> {
    return (await this.connected()).listTopics();
  }

  async groups(): Promise<string[]> {
    return (await (await this.connected()).listGroups()).groups.map((g) => g.groupId);
  }

  async deleteTopics(topics: string[]): Promise<void> {
    if (topics.length) await (await this.connected()).deleteTopics({ topics });
  }

  async deleteGroups(groups: string[]): Promise<void> {
    if (groups.length) await (await this.connected()).deleteGroups(groups);
  }

  /**
   * Deletes the keys matching the SCAN `pattern` that `doomed` picks, on every primary of a cluster;
   * `progress` gets the running count. UNLINK frees the values off Redis' main thread.
   */
  async deleteKeys(
    pattern: string,
    doomed: (key: string) => boolean,
    progress?: (deleted: number) => void,
  ): Promise<number> {
    const client = this.redis as Redis | Cluster;
    const nodes: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
    let deleted = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
        cursor = next;
        const gone = keys.filter(doomed);
        // One key per call: on a cluster, keys of one page live in many hash slots.
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

  async close(): Promise<void> {
    await this.admin?.disconnect();
    this.redis.disconnect();
  }

  private async connected(): Promise<Admin> {
    if (!this.admin) {
      this.admin = this.kafka.admin();
      await this.admin.connect();
    }
    return this.admin;
  }
}
