import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { createKafka } from '@mmctr/kafka';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { LOGGER } from '../logger';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { decodeScoreLog, toScoreLogRow, type ScoreLogRow } from './score-log-row';
import { ScoreLogSinkRepository } from './score-log-sink.repository';

/**
 * Ingests the scores topic into ClickHouse score_log: a consumer group reads each fetched batch,
 * inserts it in one statement, and commits the offsets only after the insert succeeded (a crash
 * replays the batch; score_log is a ReplacingMergeTree keyed on the request, so replays collapse).
 */
@Injectable()
export class ScoreLogSinkService implements OnApplicationBootstrap, OnApplicationShutdown {
  private consumer: Consumer | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SCORER_CONFIG) private readonly scorer: ScorerConfig,
    @Inject(ScoreLogSinkRepository) private readonly repo: ScoreLogSinkRepository,
    @Inject(ScorerMetrics) private readonly metrics: ScorerMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.scorer.SCORE_LOG_SINK_ENABLED) return;
    // In the background: a Kafka outage must not keep the scoring API from starting.
    this.start().catch((err: Error) =>
      this.logger.error(
        { err: err.message },
        'score log sink failed to start; score_log is not being filled',
      ),
    );
  }

  private async start(): Promise<void> {
    const consumer = createKafka(this.config).consumer({
      groupId: this.scorer.SCORE_LOG_SINK_GROUP_ID,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: 8 * 1024 * 1024,
    });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topic: this.config.KAFKA_TOPIC_SCORES, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.handleBatch(payload),
    });
    this.logger.info(
      { topic: this.config.KAFKA_TOPIC_SCORES, group: this.scorer.SCORE_LOG_SINK_GROUP_ID },
      'score log sink started',
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (batch.messages.length === 0 || !payload.isRunning() || payload.isStale()) return;
    const now = Date.now();
    const rows: ScoreLogRow[] = [];
    let invalid = 0;
    for (const m of batch.messages) {
      const d = decodeScoreLog(m.value, this.scorer.SCORE_LOG_SINK_MAX_MESSAGE_BYTES);
      if (d.ok) rows.push(toScoreLogRow(d.value, now));
      else {
        invalid++;
        this.logger.warn(
          { partition: batch.partition, offset: m.offset, reason: d.reason },
          'invalid score log record skipped',
        );
      }
    }
    if (rows.length > 0) {
      const end = this.metrics.sinkInsertSeconds.startTimer();
      await this.repo.insert(rows); // a failure throws: kafkajs retries from the last committed offset
      end();
      this.metrics.sinkRows.inc({ result: 'inserted' }, rows.length);
    }
    if (invalid) this.metrics.sinkRows.inc({ result: 'invalid' }, invalid);
    const last = batch.lastOffset();
    payload.resolveOffset(last);
    await this.consumer!.commitOffsets([
      { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
    ]);
    await payload.heartbeat();
  }
}
