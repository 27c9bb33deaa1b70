import { Inject, Injectable } from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { FEATURE_REPO, type FeatureRepo } from '@mmctr/feature-repo';
import { BatchConsumer, ensureTopics, platformTopics } from '@mmctr/kafka';
import { LOGGER } from '../logger';
import { ingestTopics } from './ingest-schema';
import { KAFKA } from './tokens';

/**
 * Ingest's consumer-group member on the events topic and each snapshot entity's topic (the consume / commit / rebalance
 * loop of @mmctr/kafka's BatchConsumer), plus the topics it needs. ping() is Kafka's readiness check.
 */
@Injectable()
export class IngestKafkaRepository extends BatchConsumer {
  constructor(
    @Inject(KAFKA) private readonly client: Kafka,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) log: Logger,
    @Inject(FEATURE_REPO) private readonly repo: FeatureRepo,
  ) {
    super(client, {
      groupId: config.INGEST_GROUP_ID,
      topics: ingestTopics(repo, config),
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

  /**
   * Creates the consumed topics and the DLQ if missing; returns the ones it created. Snapshot topics
   * other than the items topic get the items topic's settings.
   */
  async ensureTopics(): Promise<string[]> {
    const c = this.config;
    const known = platformTopics(c);
    const items = known.find((t) => t.topic === c.KAFKA_TOPIC_ITEMS)!;
    const wanted = [...ingestTopics(this.repo, c), c.KAFKA_TOPIC_DLQ];
    return ensureTopics(
      this.client,
      wanted.map((topic) => known.find((t) => t.topic === topic) ?? { ...items, topic }),
    );
  }
}
