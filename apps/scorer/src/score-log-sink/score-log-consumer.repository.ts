import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { BatchConsumer, createKafka } from '@mmctr/kafka';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { LOGGER } from '../logger';

/**
 * The score-log sink's consumer-group member on the scores topic (@mmctr/kafka's BatchConsumer, on a
 * Kafka client of its own): one batch at a time, up to 8 MiB per partition fetch (large slates).
 */
@Injectable()
export class ScoreLogConsumerRepository extends BatchConsumer {
  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(SCORER_CONFIG) scorer: ScorerConfig,
    @Inject(LOGGER) log: Logger,
  ) {
    super(createKafka(config), {
      groupId: scorer.SCORE_LOG_SINK_GROUP_ID,
      topics: [config.KAFKA_TOPIC_SCORES],
      log,
      stallTimeoutMs: config.INGEST_STALL_TIMEOUT_MS,
      consumer: { maxBytesPerPartition: 8 * 1024 * 1024 },
    });
  }
}
