import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import type { ItemEmbeddingJob } from '@mmctr/online-store';
import { EmbedFailure, reasonOf } from '../errors';
import type { EmbedderMetrics } from '../metrics/embedder-metrics';
import type { EmbedOutcome, EmbeddingService } from './embedding.service';

export interface EmbeddingWorkerOptions {
  queue: string;
  prefix: string;
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  shutdownGraceMs: number;
}

/**
 * The BullMQ consumer of `item-embeddings`: thin, the service does the work. Permanent failures are
 * rethrown as UnrecoverableError (no more attempts); the others use the job's backoff. Inference runs
 * in worker threads, so this event loop stays free to renew locks.
 */
export class EmbeddingWorker {
  private worker: Worker<ItemEmbeddingJob, EmbedOutcome> | null = null;

  constructor(
    private readonly service: EmbeddingService,
    private readonly connection: Redis,
    private readonly metrics: EmbedderMetrics,
    private readonly log: Logger,
    private readonly opts: EmbeddingWorkerOptions,
  ) {}

  get running(): boolean {
    return this.worker?.isRunning() ?? false;
  }

  start(): void {
    if (this.worker) return;
    const worker = new Worker<ItemEmbeddingJob, EmbedOutcome>(this.opts.queue, (job) => this.process(job), {
      connection: this.connection,
      prefix: this.opts.prefix,
      concurrency: this.opts.concurrency,
      lockDuration: this.opts.lockDurationMs,
      stalledInterval: this.opts.stalledIntervalMs,
      autorun: false,
    });
    worker.on('completed', (job, outcome) => {
      if (outcome === 'stored') {
        this.metrics.stored();
        this.metrics.endToEndSeconds.observe((Date.now() - job.timestamp) / 1000);
      } else this.metrics.items.inc({ outcome });
    });
    worker.on('failed', (job, err) => {
      const final = !job || err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
      const reason = /^([a-z_]+): /.exec(err.message)?.[1] ?? 'unknown';
      this.metrics.failures.inc({ reason, final: String(final) });
      if (final) this.metrics.items.inc({ outcome: 'failed' });
      this.log[final ? 'warn' : 'info'](
        {
          job: job?.id,
          item: job?.data?.item_id,
          reason,
          attempt: job?.attemptsMade,
          final,
          err: err.message,
        },
        'embedding failed',
      );
    });
    worker.on('error', (err) => this.log.error({ err: err.message }, 'embedding worker error'));
    this.worker = worker;
    void worker.run().catch((err: Error) => this.log.error({ err: err.message }, 'embedding worker stopped'));
    this.log.info({ queue: this.opts.queue, concurrency: this.opts.concurrency }, 'embedding worker started');
  }

  private async process(job: Job<ItemEmbeddingJob, EmbedOutcome>): Promise<EmbedOutcome> {
    const end = this.metrics.jobSeconds.startTimer();
    try {
      return await this.service.embed(job.data);
    } catch (err) {
      if (err instanceof EmbedFailure && err.permanent) throw new UnrecoverableError(err.message);
      if (err instanceof EmbedFailure) throw err;
      throw new Error(`${reasonOf(err)}: ${(err as Error).message}`);
    } finally {
      end();
    }
  }

  /** Stops taking jobs and waits for the active ones (up to the grace period, then forces). */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = null;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'timeout'>(
      (r) => (timer = setTimeout(() => r('timeout'), this.opts.shutdownGraceMs)),
    );
    const outcome = await Promise.race([worker.close().then(() => 'closed' as const), grace]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.log.warn(
        { graceMs: this.opts.shutdownGraceMs },
        'active jobs did not finish in time; they will be retried',
      );
      await worker.close(true);
    }
    this.log.info('embedding worker closed');
  }
}
