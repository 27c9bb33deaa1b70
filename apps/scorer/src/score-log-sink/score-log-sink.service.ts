import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { insertIsolatingPoison } from '@mmctr/clickhouse';
import { createKafka, type DeadLetterInput } from '@mmctr/kafka';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { LOGGER } from '../logger';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { decodeScoreLog, toScoreLogRow, type ScoreLogRow } from './score-log-row';
import { ScoreLogDeadLetterRepository } from './score-log-dead-letter.repository';
import { ScoreLogSinkRepository } from './score-log-sink.repository';

const HEARTBEAT_EVERY_MS = 3_000;

export interface ScoreLogSinkHealth {
  ok: boolean;
  enabled: boolean;
  /** Since the last commit (or since records started waiting after an idle spell). */
  sinceProgressMs: number;
  lag: number;
  failing: { target: string; failingMs: number }[];
}

/**
 * Ingests the scores topic into ClickHouse score_log: a consumer group reads each fetched batch,
 * inserts it, and commits the offsets only after the insert succeeded (a crash replays the batch;
 * score_log is a ReplacingMergeTree keyed on the request, so replays collapse). A record that cannot
 * be stored (undecodable, off-contract, or refused by ClickHouse for its data: the batch is bisected
 * to find it) goes to the DLQ topic and the partition moves on. Other failures (ClickHouse or the DLQ
 * down) are retried in place with backoff, heartbeating, so the partition is never skipped and the
 * consumer never crash-loops; health() reports them once they outlast INGEST_STORE_RETRY_DEADLINE_MS.
 */
@Injectable()
export class ScoreLogSinkService implements OnApplicationBootstrap, OnApplicationShutdown {
  private consumer: Consumer | undefined;
  private stopping = false;
  private progressAt = Date.now();
  private busy = false;
  private readonly lagByPartition = new Map<number, number>();
  private readonly failingSince = new Map<string, number>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SCORER_CONFIG) private readonly scorer: ScorerConfig,
    @Inject(ScoreLogSinkRepository) private readonly repo: ScoreLogSinkRepository,
    @Inject(ScoreLogDeadLetterRepository) private readonly dlq: ScoreLogDeadLetterRepository,
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

  /**
   * Not ok when a store (ClickHouse, the DLQ) has been failing longer than its deadline, or when no
   * commit happened for INGEST_STALL_TIMEOUT_MS while records wait. Always ok when the sink is off.
   */
  health(now = Date.now()): ScoreLogSinkHealth {
    let lag = 0;
    for (const l of this.lagByPartition.values()) lag += l;
    const waiting = this.busy || lag > 0;
    if (!waiting) this.progressAt = now;
    const sinceProgressMs = now - this.progressAt;
    const failing = [...this.failingSince]
      .map(([target, since]) => ({ target, failingMs: now - since }))
      .filter((f) => f.failingMs > this.config.INGEST_STORE_RETRY_DEADLINE_MS);
    const enabled = this.scorer.SCORE_LOG_SINK_ENABLED;
    const stalled = waiting && sinceProgressMs > this.config.INGEST_STALL_TIMEOUT_MS;
    return { ok: !enabled || (failing.length === 0 && !stalled), enabled, sinceProgressMs, lag, failing };
  }

  private async start(): Promise<void> {
    const consumer = createKafka(this.config).consumer({
      groupId: this.scorer.SCORE_LOG_SINK_GROUP_ID,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: 8 * 1024 * 1024,
      heartbeatInterval: HEARTBEAT_EVERY_MS,
      // Never give up consuming: a crashed consumer restarts instead of leaving the sink idle.
      retry: { retries: 10, restartOnFailure: async () => true },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.lagByPartition.clear();
      this.progressAt = Date.now();
    });
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
    this.stopping = true;
    await this.consumer?.disconnect().catch(() => undefined);
    await this.dlq.disconnect();
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (batch.messages.length === 0 || !payload.isRunning() || payload.isStale()) return;
    if (!this.busy && ![...this.lagByPartition.values()].some((l) => l > 0)) this.progressAt = Date.now();
    this.lagByPartition.set(batch.partition, Number(batch.offsetLag()));
    this.busy = true;
    try {
      await this.store(payload);
    } finally {
      this.busy = false;
    }
  }

  private async store(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
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
        rows.push(toScoreLogRow(d.value, now));
        sources.push(m);
      } else letters.push(letter(m, d.reason));
    }
    const invalid = letters.length;
    if (rows.length > 0) {
      const end = this.metrics.sinkInsertSeconds.startTimer();
      const { rejected } = await this.retrying('clickhouse', payload, () =>
        insertIsolatingPoison(rows, (r) => this.repo.insert(r)),
      );
      end();
      this.metrics.sinkRows.inc({ result: 'inserted' }, rows.length - rejected.length);
      for (const r of rejected) {
        const code = 'code' in r.error ? r.error.code : undefined;
        const reason = `clickhouse: score_log insert refused the row${code === undefined ? '' : ` (Code ${code})`}: ${r.error.message}`;
        letters.push(letter(sources[r.index]!, reason, code));
      }
      if (rejected.length > 0) this.metrics.sinkRows.inc({ result: 'rejected' }, rejected.length);
    }
    if (invalid) this.metrics.sinkRows.inc({ result: 'invalid' }, invalid);
    if (letters.length > 0) {
      await this.retrying('kafka-dlq', payload, () => this.dlq.send(letters));
      this.metrics.sinkRows.inc({ result: 'dead_lettered' }, letters.length);
      this.logger.warn(
        {
          partition: batch.partition,
          dead_lettered: letters.slice(0, 20).map((l) => ({ offset: l.offset, reason: l.reason })),
        },
        'score log records that cannot be stored were dead-lettered',
      );
    }
    const last = batch.lastOffset();
    payload.resolveOffset(last);
    await this.consumer!.commitOffsets([
      { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
    ]);
    this.progressAt = Date.now();
    this.lagByPartition.set(batch.partition, Number(batch.offsetLag()));
    await payload.heartbeat();
  }

  /**
   * Runs `fn` until it succeeds, with backoff and heartbeats; gives up (throws, so the batch is
   * redelivered from the last commit) only when the sink stops or the partition was revoked.
   */
  private async retrying<T>(target: string, payload: EachBatchPayload, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await fn();
        if (this.failingSince.delete(target)) this.logger.info({ target }, 'score log sink store recovered');
        return result;
      } catch (err) {
        if (this.stopping || !payload.isRunning() || payload.isStale()) throw err;
        if (!this.failingSince.has(target)) this.failingSince.set(target, Date.now());
        const waitMs = Math.min(
          this.config.INGEST_RETRY_MAX_MS,
          this.config.INGEST_RETRY_INITIAL_MS * 2 ** Math.min(20, attempt - 1),
        );
        this.logger.warn(
          { target, attempt, waitMs, err: (err as Error).message },
          'score log sink store failed; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, waitMs));
        await payload.heartbeat().catch(() => undefined);
      }
    }
  }
}
