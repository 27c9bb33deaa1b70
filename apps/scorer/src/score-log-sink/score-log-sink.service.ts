import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { refusedRowReason } from '@mmctr/clickhouse';
import { retryForever, type DeadLetterInput, type FetchedBatch } from '@mmctr/kafka';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { LOGGER } from '../logger';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { ScoreLogConsumerRepository } from './score-log-consumer.repository';
import { decodeScoreLog, toScoreLogRow, type ScoreLogRow } from './score-log-row';
import { ScoreLogDeadLetterRepository } from './score-log-dead-letter.repository';
import { ScoreLogSinkRepository } from './score-log-sink.repository';

export interface ScoreLogSinkHealth {
  ok: boolean;
  enabled: boolean;
  /** Since the last commit (or since records started waiting after an idle spell). */
  sinceProgressMs: number;
  lag: number;
  failing: { target: string; failingMs: number }[];
}

/**
 * Ingests the scores topic into ClickHouse score_log: the consumer-group member
 * (ScoreLogConsumerRepository) hands over each fetched batch; the sink inserts it and commits the offsets only after the insert succeeded (a crash replays the batch;
 * score_log is a ReplacingMergeTree keyed on the request, so replays collapse). A record that cannot
 * be stored (undecodable, off-contract, or refused by ClickHouse for its data: the batch is bisected
 * to find it) goes to the DLQ topic and the partition moves on. Other failures (ClickHouse or the DLQ
 * down) are retried in place with backoff, heartbeating, so the partition is never skipped and the
 * consumer never crash-loops; health() reports them once they outlast INGEST_STORE_RETRY_DEADLINE_MS.
 */
@Injectable()
export class ScoreLogSinkService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly failingSince = new Map<string, number>();
  private stopping = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SCORER_CONFIG) private readonly scorer: ScorerConfig,
    private readonly source: ScoreLogConsumerRepository,
    private readonly repo: ScoreLogSinkRepository,
    private readonly dlq: ScoreLogDeadLetterRepository,
    private readonly metrics: ScorerMetrics,
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

  /**
   * Not ok when a store (ClickHouse, the DLQ) has been failing longer than its deadline, or when no
   * commit happened for INGEST_STALL_TIMEOUT_MS while records wait. Always ok when the sink is off.
   */
  health(now = Date.now()): ScoreLogSinkHealth {
    const { ok: flowing, sinceProgressMs, lag } = this.source.consumption(now);
    const failing = [...this.failingSince]
      .map(([target, since]) => ({ target, failingMs: now - since }))
      .filter((f) => f.failingMs > this.config.INGEST_STORE_RETRY_DEADLINE_MS);
    const enabled = this.scorer.SCORE_LOG_SINK_ENABLED;
    return { ok: !enabled || (failing.length === 0 && flowing), enabled, sinceProgressMs, lag, failing };
  }

  /**
   * Joins the consumer group, retrying with backoff while Kafka cannot be reached: a sink that never
   * started is a failing `kafka` target, so health() turns not ok after the store deadline.
   */
  private async start(): Promise<void> {
    await retryForever(() => this.source.start((batch) => this.store(batch)), {
      initialMs: this.config.INGEST_RETRY_INITIAL_MS,
      maxMs: this.config.INGEST_RETRY_MAX_MS,
      giveUp: () => this.stopping,
      onRetry: (err, attempt, waitMs) => {
        if (!this.failingSince.has('kafka')) this.failingSince.set('kafka', Date.now());
        this.logger.warn(
          { attempt, waitMs, err: (err as Error).message },
          'score log sink could not start; retrying',
        );
      },
    });
    this.failingSince.delete('kafka');
    this.logger.info(
      { topic: this.config.KAFKA_TOPIC_SCORES, group: this.scorer.SCORE_LOG_SINK_GROUP_ID },
      'score log sink started',
    );
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.source.stop();
    await this.dlq.disconnect();
  }

  /** Stores one batch (rows, then dead letters), then commits it. */
  private async store(batch: FetchedBatch): Promise<void> {
    const now = Date.now();
    const rows: ScoreLogRow[] = [];
    const sources: KafkaMessage[] = [];
    const letters: DeadLetterInput[] = [];
    const letter = (m: KafkaMessage, reason: string, errorCode?: number): DeadLetterInput => ({
      reason,
      topic: batch.topic,
      partition: batch.partition,
      offset: m.offset,
      key: m.key,
      value: m.value,
      errorCode,
    });
    for (const m of batch.messages) {
      const d = decodeScoreLog(m.value, this.scorer.SCORE_LOG_SINK_MAX_MESSAGE_BYTES);
      if (d.ok) {
        rows.push(toScoreLogRow(d.value, now, this.repo.legacyContextColumns));
        sources.push(m);
      } else letters.push(letter(m, d.reason));
    }
    const invalid = letters.length;
    if (rows.length > 0) {
      const end = this.metrics.sinkInsertSeconds.startTimer();
      const { rejected } = await this.retrying('clickhouse', batch, () => this.repo.insert(rows));
      end();
      this.metrics.sinkRows.inc({ result: 'inserted' }, rows.length - rejected.length);
      for (const r of rejected) {
        const { reason, code } = refusedRowReason('score_log', r);
        letters.push(letter(sources[r.index]!, reason, code));
      }
      if (rejected.length > 0) this.metrics.sinkRows.inc({ result: 'rejected' }, rejected.length);
    }
    if (invalid) this.metrics.sinkRows.inc({ result: 'invalid' }, invalid);
    if (letters.length > 0) {
      await this.retrying('kafka-dlq', batch, () => this.dlq.send(letters));
      this.metrics.sinkRows.inc({ result: 'dead_lettered' }, letters.length);
      this.logger.warn(
        {
          partition: batch.partition,
          dead_lettered: letters.slice(0, 20).map((l) => ({ offset: l.offset, reason: l.reason })),
        },
        'score log records that cannot be stored were dead-lettered',
      );
    }
    await this.source.commit([batch]);
    await batch.heartbeat();
  }

  /**
   * Runs `fn` until it succeeds, with backoff and heartbeats; gives up (throws, so the batch is
   * redelivered from the last commit) only when the sink stops or the partition was revoked.
   */
  private async retrying<T>(target: string, batch: FetchedBatch, fn: () => Promise<T>): Promise<T> {
    const result = await retryForever(fn, {
      initialMs: this.config.INGEST_RETRY_INITIAL_MS,
      maxMs: this.config.INGEST_RETRY_MAX_MS,
      giveUp: () => !batch.current(),
      onRetry: (err, attempt, waitMs) => {
        if (!this.failingSince.has(target)) this.failingSince.set(target, Date.now());
        this.logger.warn(
          { target, attempt, waitMs, err: (err as Error).message },
          'score log sink store failed; retrying',
        );
      },
      sleep: async (ms) => {
        await new Promise((resolve) => setTimeout(resolve, ms));
        await batch.heartbeat().catch(() => undefined);
      },
    });
    if (this.failingSince.delete(target)) this.logger.info({ target }, 'score log sink store recovered');
    return result;
  }
}
