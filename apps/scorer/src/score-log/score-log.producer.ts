import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { validate, type ScoreLogRecord } from '@mmctr/contracts';
import { createKafka } from '@mmctr/kafka';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { LOGGER } from '../logger';
import { ScorerMetrics } from '../metrics/scorer-metrics';

/**
 * Produces score log records to the scores topic off the response path: records queue in memory
 * (bounded; overflow is dropped and counted) and are sent in batches, keyed by user_id.
 */
@Injectable()
export class ScoreLogProducer implements OnApplicationBootstrap, OnApplicationShutdown {
  private producer: Producer | undefined;
  private queue: ScoreLogRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private connected: Promise<void> | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SCORER_CONFIG) private readonly scorer: ScorerConfig,
    @Inject(ScorerMetrics) private readonly metrics: ScorerMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  get enabled(): boolean {
    return this.scorer.SCORER_SCORE_LOG_ENABLED;
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    const producer = createKafka(this.config).producer({ allowAutoTopicCreation: false });
    this.producer = producer;
    // Connect in the background: the scorer serves while Kafka is away; records wait in the queue.
    void this.connect().catch(() => undefined);
    this.timer = setInterval(() => void this.flush(), this.scorer.SCORER_SCORE_LOG_FLUSH_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    if (!this.producer) return;
    await this.flush();
    await this.producer.disconnect().catch(() => undefined);
  }

  /** Queues one record (validated against the score-log contract). */
  publish(record: ScoreLogRecord): void {
    if (!this.enabled) return;
    const v = validate('scoreLog', record);
    if (!v.ok) {
      this.metrics.scoreLogs.inc({ result: 'invalid' });
      this.logger.error(
        { request_id: record.request_id, reason: v.reason },
        'score log record invalid; not produced',
      );
      return;
    }
    if (this.queue.length >= this.scorer.SCORER_SCORE_LOG_MAX_QUEUE) {
      this.metrics.scoreLogs.inc({ result: 'dropped' });
      return;
    }
    this.queue.push(record);
  }

  /** Sends everything queued so far (one send at a time). */
  async flush(): Promise<void> {
    while (this.sending) await this.sending;
    if (this.queue.length === 0 || !this.producer) return;
    this.sending = this.send().finally(() => (this.sending = undefined));
    await this.sending;
  }

  private connect(): Promise<void> {
    this.connected ??= this.producer!.connect().catch((err: Error) => {
      this.logger.error(
        { err: err.message },
        'score log producer failed to connect; retrying on the next flush',
      );
      this.connected = undefined;
      throw err;
    });
    return this.connected;
  }

  private async send(): Promise<void> {
    try {
      await this.connect();
    } catch {
      return;
    }
    const batch = this.queue;
    this.queue = [];
    try {
      await this.producer!.send({
        topic: this.config.KAFKA_TOPIC_SCORES,
        messages: batch.map((r) => ({ key: r.user_id, value: JSON.stringify(r) })),
      });
      this.metrics.scoreLogs.inc({ result: 'produced' }, batch.length);
    } catch (err) {
      // Put them back (bounded) for the next flush.
      const room = this.scorer.SCORER_SCORE_LOG_MAX_QUEUE - this.queue.length;
      const keep = batch.slice(0, Math.max(0, room));
      this.queue = keep.concat(this.queue);
      this.metrics.scoreLogs.inc({ result: 'failed' }, batch.length - keep.length);
      this.logger.warn(
        { err: (err as Error).message, records: batch.length },
        'score log send failed; will retry',
      );
    }
  }
}
