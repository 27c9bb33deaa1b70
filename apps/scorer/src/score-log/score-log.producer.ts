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
  private sending: Promise<boolean> | undefined;
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

  /** Queues one record; it is validated against the score-log contract when sent (off the response path). */
  publish(record: ScoreLogRecord): void {
    if (!this.enabled) return;
    if (this.queue.length >= this.scorer.SCORER_SCORE_LOG_MAX_QUEUE) {
      this.metrics.scoreLogs.inc({ result: 'dropped' });
      return;
    }
    this.queue.push(record);
  }

  private encode(record: ScoreLogRecord): { key: string; value: string } | null {
    const v = validate('scoreLog', record);
    if (v.ok) return { key: record.user_id, value: JSON.stringify(record) };
    this.metrics.scoreLogs.inc({ result: 'invalid' });
    this.logger.error(
      { request_id: record.request_id, reason: v.reason },
      'score log record invalid; not produced',
    );
    return null;
  }

  /**
   * Sends everything queued so far, one send at a time of at most SCORER_SCORE_LOG_BATCH_RECORDS
   * records: encoding a produce request blocks the event loop, so requests get in between chunks.
   */
  async flush(): Promise<void> {
    while (this.sending) await this.sending;
    while (this.queue.length > 0 && this.producer) {
      this.sending = this.send().finally(() => (this.sending = undefined));
      if (!(await this.sending)) return;
    }
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

  /** Sends one chunk of the queue; false when nothing could be sent (retried on the next flush). */
  private async send(): Promise<boolean> {
    try {
      await this.connect();
    } catch {
      return false;
    }
    const batch: ScoreLogRecord[] = [];
    const messages: { key: string; value: string }[] = [];
    for (const r of this.queue.splice(0, this.scorer.SCORER_SCORE_LOG_BATCH_RECORDS)) {
      const m = this.encode(r);
      if (!m) continue;
      batch.push(r);
      messages.push(m);
    }
    if (messages.length === 0) return true;
    try {
      await this.producer!.send({ topic: this.config.KAFKA_TOPIC_SCORES, messages });
      this.metrics.scoreLogs.inc({ result: 'produced' }, messages.length);
      return true;
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
      return false;
    }
  }
}
