import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type Redis from 'ioredis';
import type { ItemEmbeddingJob } from '@mmctr/online-store';
import { EmbedFailure } from '../errors';
import type { EmbedOutcome } from './embedding.service';

export interface EmbeddingQueueOptions {
  queue: string;
  prefix: string;
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
}

/** One job of the queue, as its consumer sees it. */
export interface QueuedEmbedding {
  id: string | undefined;
  /** 'embed' (a catalogue item) or ENTITY_EMBEDDING_JOB (then `data` is an EntityEmbeddingJob). */
  name: string;
  data: ItemEmbeddingJob;
  /** When it was enqueued (ms since the epoch). */
  enqueuedMs: number;
  attemptsMade: number;
}

export interface EmbeddingQueueHandlers {
  /** Does one job. A permanent EmbedFailure ends the job at once; any other error uses its backoff. */
  process(job: QueuedEmbedding): Promise<EmbedOutcome>;
  completed(job: QueuedEmbedding, outcome: EmbedOutcome): void;
  /** `final`: the job will not be attempted again (job undefined: the queue lost track of it). */
  failed(job: QueuedEmbedding | undefined, err: Error, final: boolean): void;
  /** A connection or consumer error outside any job. */
  error(err: Error): void;
  /** The consumer's loop ended with an error. */
  stopped(err: Error): void;
}

const queued = (job: Job<ItemEmbeddingJob, EmbedOutcome>): QueuedEmbedding => ({
  id: job.id,
  name: job.name,
  data: job.data,
  enqueuedMs: job.timestamp,
  attemptsMade: job.attemptsMade,
});

/**
 * The BullMQ side of `item-embeddings`: the consumer (a Worker on the blocking BullMQ connection) and
 * a read-only queue handle for the job counts. Permanent failures become BullMQ's UnrecoverableError.
 */
export class EmbeddingQueueRepository {
  private worker: Worker<ItemEmbeddingJob, EmbedOutcome> | null = null;
  private handle: Queue | null = null;

  constructor(
    private readonly connection: Redis,
    readonly options: EmbeddingQueueOptions,
  ) {}

  /** Whether a consumer is running (the readiness check). */
  get consuming(): boolean {
    return this.worker?.isRunning() ?? false;
  }

  /** Starts consuming with `handlers` (once). */
  consume(handlers: EmbeddingQueueHandlers): void {
    if (this.worker) return;
    const { queue, prefix, concurrency, lockDurationMs, stalledIntervalMs } = this.options;
    const worker = new Worker<ItemEmbeddingJob, EmbedOutcome>(
      queue,
      async (job) => {
        try {
          return await handlers.process(queued(job));
        } catch (err) {
          if (err instanceof EmbedFailure && err.permanent) throw new UnrecoverableError(err.message);
          throw err;
        }
      },
      {
        connection: this.connection,
        prefix,
        concurrency,
        lockDuration: lockDurationMs,
        stalledInterval: stalledIntervalMs,
        autorun: false,
      },
    );
    worker.on('completed', (job, outcome) => handlers.completed(queued(job), outcome));
    worker.on('failed', (job, err) => {
      const final = !job || err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
      handlers.failed(job ? queued(job) : undefined, err, final);
    });
    worker.on('error', (err) => handlers.error(err));
    this.worker = worker;
    void worker.run().catch((err: Error) => handlers.stopped(err));
  }

  /**
   * Stops consuming: waits for the active jobs, or with `force` abandons them (their locks expire and
   * another consumer retries them).
   */
  async stop(force = false): Promise<void> {
    await this.worker?.close(force);
  }

  /** Jobs by state. */
  jobCounts(): Promise<Record<string, number>> {
    const { queue, prefix } = this.options;
    this.handle ??= new Queue(queue, { connection: this.connection, prefix });
    return this.handle.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
  }

  /** Releases the queue handle (the connection belongs to the module). */
  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = null;
  }
}
