import type { Admin, Kafka } from 'kafkajs';
import type Redis from 'ioredis';
import type { AppConfig } from '@mmctr/config';
import type { DemoRunStores } from './commands/demo-runs';
import { createKafka } from '@mmctr/kafka';
import { createRedis, deleteKeysMatching } from '@mmctr/online-store';

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

  /** Deletes the keys matching the SCAN `pattern` that `doomed` picks; `progress` gets the running count. */
  deleteKeys(
    pattern: string,
    doomed: (key: string) => boolean,
    progress?: (deleted: number) => void,
  ): Promise<number> {
    return deleteKeysMatching(this.redis, pattern, { doomed, progress, count: SCAN_COUNT });
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
