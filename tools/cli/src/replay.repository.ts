import type Redis from 'ioredis';
import type { AppConfig } from '@mmctr/config';
import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import type { Admin } from 'kafkajs';
import { consumerGroupLag, createKafka, EventProducer } from '@mmctr/kafka';
import { createRedis, onlineStoreFromConfig, type OnlineStore } from '@mmctr/online-store';

/**
 * What a replay writes and reads: events and items to Kafka, users' newest history entry from Redis,
 * and how far ingest has got.
 */
export class ReplayRepository {
  private readonly producer: EventProducer;
  private readonly admin: Admin;
  private adminConnected: Promise<void> | null = null;
  private readonly redis: Redis;
  private readonly store: OnlineStore;

  constructor(private readonly config: AppConfig) {
    const kafka = createKafka(config);
    this.admin = kafka.admin();
    this.producer = new EventProducer(kafka, {
      eventsTopic: config.KAFKA_TOPIC_EVENTS,
      itemsTopic: config.KAFKA_TOPIC_ITEMS,
    });
    this.redis = createRedis(config);
    this.store = onlineStoreFromConfig(this.redis, config);
  }

  sendItems(items: readonly CatalogueItem[]): Promise<void> {
    return this.producer.sendItems(items);
  }

  sendEvents(events: readonly BehaviourEvent[]): Promise<void> {
    return this.producer.sendEvents(events);
  }

  /** The timestamp of the user's newest history entry in the online store, if any. */
  async newestHistoryTs(userId: string): Promise<number | undefined> {
    const [newest] = await this.store.getHistory(userId, 1);
    return newest?.ts_ms;
  }

  /** Events sent to the events topic that the ingest group (INGEST_GROUP_ID) has not committed yet. */
  async ingestLag(): Promise<number> {
    this.adminConnected ??= this.admin.connect();
    await this.adminConnected;
    return consumerGroupLag(this.admin, this.config.INGEST_GROUP_ID, [this.config.KAFKA_TOPIC_EVENTS]);
  }

  async close(): Promise<void> {
    this.redis.disconnect();
    if (this.adminConnected) await this.admin.disconnect();
    await this.producer.close();
  }
}
