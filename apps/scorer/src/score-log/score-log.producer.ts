import type { Worker } from 'node:worker_threads';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import type { ScoreLogRecord } from '@mmctr/contracts';
import { startWorkerThread } from '@mmctr/observability';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { LOGGER } from '../logger';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import type { ScoreLogFromThread, ScoreLogThreadInit, ScoreLogToThread } from './score-log.thread';

const CLOSE_TIMEOUT_MS = 10_000;
const RESTART_DELAY_MS = 1_000;

/**
 * Produces score log records to the scores topic off the response path: each record is handed to the
 * score log thread (score-log.thread.ts), which queues it (bounded; overflow is dropped and counted),
 * validates it and sends it in batches keyed by user_id. Counts and log lines come back from the thread.
 */
@Injectable()
export class ScoreLogProducer implements OnApplicationBootstrap, OnApplicationShutdown {
  private thread: Worker | undefined;
  private closing = false;

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
    if (this.enabled) this.start();
  }

  /** Hands one record to the thread (a structured clone: the caller may not change it afterwards). */
  publish(record: ScoreLogRecord): void {
    if (!this.thread) return;
    this.thread.postMessage({ record } satisfies ScoreLogToThread);
  }

  /** Lets the thread send what it holds, then stops it. */
  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
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
      flushMs: this.scorer.SCORER_SCORE_LOG_FLUSH_MS,
    };
    const thread = startWorkerThread(__dirname, 'score-log.thread', init);
    thread.unref();
    thread.on('message', (m: ScoreLogFromThread) => {
      if ('count' in m) this.metrics.scoreLogs.inc({ result: m.count }, m.n);
      else if ('log' in m) this.logger[m.log](m.obj, m.msg);
    });
    thread.on('error', (err) => this.logger.error({ err: err.message }, 'score log thread failed'));
    thread.once('exit', (code) => {
      if (this.closing || this.thread !== thread) return;
      // Records it held are lost (counted by nobody): say so, and start a fresh thread.
      this.thread = undefined;
      this.logger.error({ code }, 'score log thread exited; restarting it');
      setTimeout(() => !this.closing && this.start(), RESTART_DELAY_MS).unref();
    });
    this.thread = thread;
  }
}
