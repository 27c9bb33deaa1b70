import { Inject, Injectable } from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { BatchConsumer, ensureTopics, platformTopics } from '@mmctr/kafka';
import { LOGGER } from '../logger';
import { KAFKA } from './tokens';

/**
 * Ingest's consumer-group member on the events and items topics (the consume / commit / rebalance
 * loop of @mmctr/kafka's BatchConsumer), plus the topics it needs. ping() is Kafka's readiness check.
 */
@Injectable()
export class IngestKafkaRepository extends BatchConsumer {
  constructor(
    @Inject(KAFKA) private readonly client: Kafka,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) log: Logger,
  ) {
    super(client, {
      groupId: config.INGEST_GROUP_ID,
      topics: [config.KAFKA_TOPIC_EVENTS, config.KAFKA_TOPIC_ITEMS],
      log,
      stallTimeoutMs: config.INGEST_STALL_TIMEOUT_MS,
      consumer: {
        maxBytesPerPartition: config.INGEST_FETCH_MAX_BYTES_PER_PARTITION,
        maxWaitTimeInMs: 1_000,
        sessionTimeout: 30_000,
      },
      partitionsConsumedConcurrently: 16,
    });
  }

  /** Creates the consumed topics and the DLQ if missing; returns the ones it created. */
  async ensureTopics(): Promise<string[]> {
    const c = this.config;
    const wanted = new Set([c.KAFKA_TOPIC_EVENTS, c.KAFKA_TOPIC_ITEMS, c.KAFKA_TOPIC_DLQ]);
    return ensureTopics(
      this.client,
      platformTopics(c).filter((t) => wanted.has(t.topic)),
    );
  }
}
