import type { Logger } from 'pino';
import { ENTITY_EMBEDDING_JOB, type EntityEmbeddingJob } from '@mmctr/online-store';
import { EmbedFailure, permanent, reasonOf } from '../errors';
import type { EmbedderMetrics } from '../metrics/embedder-metrics';
import type {
  EmbeddingQueueHandlers,
  EmbeddingQueueRepository,
  QueuedEmbedding,
} from './embedding-queue.repository';
import type { EmbedOutcome, EmbeddingService } from './embedding.service';
import type { EntityEmbeddingService } from './entity-embedding.service';

export interface EmbeddingWorkerOptions {
  /** How long close() waits for the active jobs before abandoning them. */
  shutdownGraceMs: number;
}

/**
 * The consumer of `item-embeddings`: thin, the service does the work, the queue repository holds the
 * BullMQ side. Every failure reaches the queue as an EmbedFailure or an Error named by its reason;
 * permanent ones are not retried. Inference runs in worker threads, so this event loop stays free to
 * renew locks.
 */
export class EmbeddingWorker {
  private started = false;

  constructor(
    private readonly service: EmbeddingService,
    private readonly queue: EmbeddingQueueRepository,
    private readonly metrics: EmbedderMetrics,
    private readonly log: Logger,
    private readonly opts: EmbeddingWorkerOptions,
    /** Jobs of the repository's entity embeddings (absent: they fail as invalid). */
    private readonly entities?: EntityEmbeddingService,
  ) {}

  get running(): boolean {
    return this.started && this.queue.consuming;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.queue.consume(this.handlers());
    const { queue, concurrency } = this.queue.options;
    this.log.info({ queue, concurrency }, 'embedding worker started');
  }

  private handlers(): EmbeddingQueueHandlers {
    return {
      process: (job) => this.process(job),
      completed: (job, outcome) => {
        if (outcome === 'stored') {
          this.metrics.stored();
          this.metrics.endToEndSeconds.observe((Date.now() - job.enqueuedMs) / 1000);
        } else this.metrics.items.inc({ outcome });
      },
      failed: (job, err, final) => {
        const reason = /^([a-z_]+): /.exec(err.message)?.[1] ?? 'unknown';
        this.metrics.failures.inc({ reason, final: String(final) });
        if (final) this.metrics.items.inc({ outcome: 'failed' });
        this.log[final ? 'warn' : 'info'](
          {
            job: job?.id,
            item: job?.data?.item_id ?? (job?.data as Partial<EntityEmbeddingJob> | undefined)?.key,
            reason,
            attempt: job?.attemptsMade,
            final,
            err: err.message,
          },
          'embedding failed',
        );
      },
      error: (err) => this.log.error({ err: err.message }, 'embedding worker error'),
      stopped: (err) => this.log.error({ err: err.message }, 'embedding worker stopped'),
    };
  }

  private async process(job: QueuedEmbedding): Promise<EmbedOutcome> {
    const end = this.metrics.jobSeconds.startTimer();
    try {
      if (job.name !== ENTITY_EMBEDDING_JOB) return await this.service.embed(job.data);
      if (!this.entities) throw permanent('invalid_job', 'this worker embeds no entity embeddings');
      return await this.entities.embed(job.data as unknown as EntityEmbeddingJob);
    } catch (err) {
      if (err instanceof EmbedFailure) throw err;
      throw new Error(`${reasonOf(err)}: ${(err as Error).message}`);
    } finally {
      end();
    }
  }

  /** Stops taking jobs and waits for the active ones (up to the grace period, then forces). */
  async close(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'timeout'>(
      (r) => (timer = setTimeout(() => r('timeout'), this.opts.shutdownGraceMs)),
    );
    const outcome = await Promise.race([this.queue.stop().then(() => 'closed' as const), grace]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.log.warn(
        { graceMs: this.opts.shutdownGraceMs },
        'active jobs did not finish in time; they will be retried',
      );
      await this.queue.stop(true);
    }
    this.log.info('embedding worker closed');
  }
}
