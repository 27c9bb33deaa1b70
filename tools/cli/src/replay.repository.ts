import type Redis from 'ioredis';
import type { AppConfig } from '@mmctr/config';
import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import { createKafka, EventProducer } from '@mmctr/kafka';
import { createRedis, onlineStoreFromConfig, type OnlineStore } from '@mmctr/online-store';

/** What a replay writes and reads: events and items to Kafka, users' newest history entry from Redis. */
export class ReplayRepository {
  private readonly producer: EventProducer;
  private readonly redis: Redis;
  private readonly store: OnlineStore;

  constructor(config: AppConfig) {
    this.producer = new EventProducer(createKafka(config), {
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

  async close(): Promise<void> {
    this.redis.disconnect();
    await this.producer.close();
  }
}
