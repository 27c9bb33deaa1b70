import type { Worker } from 'node:worker_threads';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import type { ScoreLogRecord } from '@mmctr/contracts';
import { startWorkerThread } from '@mmctr/observability';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { LOGGER } from '../logger';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { packScoreLog, type PackedScoreLog } from './score-log-codec';
import type { ScoreLogFromThread, ScoreLogToThread } from './score-log-sender';
import type { ScoreLogThreadInit } from './score-log.thread';

const CLOSE_TIMEOUT_MS = 10_000;
const RESTART_DELAY_MS = 1_000;
const YOUNG_GENERATION_MB = 4;

/**
 * Produces score log records to the scores topic off the response path: each record is packed here
 * (not validated: the thread checks the encoded value against the contract), and every SCORER_SCORE_LOG_FLUSH_MS what has gathered is handed to the score log thread
 * (score-log.thread.ts) in one message; the thread queues it (bounded; overflow is dropped and counted)
 * and sends it at once in requests keyed by user_id. Counts and log lines come back from the thread.
 */
@Injectable()
export class ScoreLogProducer implements OnApplicationBootstrap, OnApplicationShutdown {
  private thread: Worker | undefined;
  private closing = false;
  // One message per flush interval, not per record: each message wakes the thread, and on this
  // (virtualised) box a wake-up cost more CPU than the record's structured clone.
  private batch: PackedScoreLog[] = [];
  private handOverTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SCORER_CONFIG) private readonly scorer: ScorerConfig,
    private readonly metrics: ScorerMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  get enabled(): boolean {
    return this.scorer.SCORER_SCORE_LOG_ENABLED;
  }

  onApplicationBootstrap(): void {
    if (this.enabled) this.start();
  }

  /**
   * Queues one record for the thread, packed (score-log-codec.ts); the thread counts and logs it if the
   * contract rejects it. The caller may change the record afterwards.
   */
  publish(record: ScoreLogRecord): void {
    // Not `!this.thread`: while a dead thread is being restarted, records gather for the new one.
    if (!this.enabled || this.closing) return;
    if (this.batch.length >= this.scorer.SCORER_SCORE_LOG_MAX_QUEUE) {
      this.metrics.scoreLogs.inc({ result: 'dropped' });
      return;
    }
    this.batch.push(packScoreLog(record));
    this.scheduleHandOver();
  }

  private scheduleHandOver(): void {
    this.handOverTimer ??= setTimeout(() => this.handOver(), this.scorer.SCORER_SCORE_LOG_FLUSH_MS).unref();
  }

  /** Posts the gathered records to the thread (kept for the next thread while there is none). */
  private handOver(): void {
    clearTimeout(this.handOverTimer);
    this.handOverTimer = undefined;
    if (!this.thread || this.batch.length === 0) return;
    this.thread.postMessage({ records: this.batch } satisfies ScoreLogToThread);
    this.batch = [];
  }

  /** Lets the thread send what it holds, then stops it. */
  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    this.handOver();
    const thread = this.thread;
    if (!thread) return;
    this.thread = undefined;
    let timer: NodeJS.Timeout | undefined;
    const closed = new Promise<void>((resolve) => {
      thread.on('message', (m: ScoreLogFromThread) => 'closed' in m && resolve());
      thread.once('exit', () => resolve());
      timer = setTimeout(() => {
        this.logger.warn({ timeoutMs: CLOSE_TIMEOUT_MS }, 'score log thread did not finish sending in time');
        resolve();
      }, CLOSE_TIMEOUT_MS);
    });
    thread.postMessage({ close: true } satisfies ScoreLogToThread);
    await closed;
    clearTimeout(timer);
    await thread.terminate();
  }

  private start(): void {
    const init: ScoreLogThreadInit = {
      kafka: { KAFKA_BROKERS: this.config.KAFKA_BROKERS, KAFKA_CLIENT_ID: this.config.KAFKA_CLIENT_ID },
      topic: this.config.KAFKA_TOPIC_SCORES,
      maxQueue: this.scorer.SCORER_SCORE_LOG_MAX_QUEUE,
      batchRecords: this.scorer.SCORER_SCORE_LOG_BATCH_RECORDS,
      maxBatchBytes: this.scorer.SCORER_SCORE_LOG_MAX_BATCH_BYTES,
      flushMs: this.scorer.SCORER_SCORE_LOG_FLUSH_MS,
    };
    // A small young generation: with V8's default, the thread (little live data, bursts of garbage
    // and kafkajs buffers) often fell after an idle spell into a full mark-compact every ~0.6 s, which
    // cost more CPU than all its sending (--trace-gc with bench/score/score-log-cpu.ts's load).
    const thread = startWorkerThread(__dirname, 'score-log.thread', init, {
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    thread.unref();
    thread.on('message', (m: ScoreLogFromThread) => {
      if ('count' in m) this.metrics.scoreLogs.inc({ result: m.count }, m.n);
      else if ('log' in m) this.logger[m.log](m.obj, m.msg);
    });
    thread.on('error', (err) => this.logger.error({ err: err.message }, 'score log thread failed'));
    thread.once('exit', (code) => {
      if (this.closing || this.thread !== thread) return;
      // Records it held are lost (counted by nobody): say so, and start a fresh thread (which gets
      // those gathered here in the meantime).
      this.thread = undefined;
      this.logger.error({ code }, 'score log thread exited; restarting it');
      setTimeout(() => !this.closing && this.start(), RESTART_DELAY_MS).unref();
    });
    this.thread = thread;
    if (this.batch.length > 0) this.scheduleHandOver();
  }
}
