import { type BeforeApplicationShutdown, Inject, Module, type OnApplicationBootstrap } from '@nestjs/common';
import { Queue } from 'bullmq';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { embeddingQueueRef } from '@mmctr/online-store';
import { EMBEDDER_CONFIG, type EmbedderConfig } from '../config/embedder-config';
import { LOGGER } from '../logger';
import { EmbedderMetrics } from '../metrics/embedder-metrics';
import { EmbeddingRepository } from '../storage/embedding.repository';
import { BULL_REDIS } from '../tokens';
import { EmbeddingService } from './embedding.service';
import { EmbeddingWorker } from './embedding.worker';

const QUEUE = Symbol('EMBEDDINGS_QUEUE_HANDLE');

/** The queue consumer, started after bootstrap and drained before anything else shuts down. */
@Module({
  providers: [
    {
      provide: EmbeddingWorker,
      inject: [EmbeddingService, BULL_REDIS, EmbedderMetrics, LOGGER, APP_CONFIG, EMBEDDER_CONFIG],
      useFactory: (
        service: EmbeddingService,
        redis: Redis,
        metrics: EmbedderMetrics,
        log: Logger,
        app: AppConfig,
        c: EmbedderConfig,
      ) =>
        new EmbeddingWorker(service, redis, metrics, log, {
          queue: embeddingQueueRef(app).name,
          prefix: embeddingQueueRef(app).prefix,
          concurrency: c.EMBEDDER_CONCURRENCY,
          lockDurationMs: c.EMBEDDER_LOCK_DURATION_MS,
          stalledIntervalMs: c.EMBEDDER_STALLED_INTERVAL_MS,
          shutdownGraceMs: c.EMBEDDER_SHUTDOWN_GRACE_MS,
        }),
    },
    {
      // Read-only handle for the queue-depth metric.
      provide: QUEUE,
      inject: [BULL_REDIS, APP_CONFIG],
      useFactory: (redis: Redis, app: AppConfig) => {
        const { name, prefix } = embeddingQueueRef(app);
        return new Queue(name, { connection: redis, prefix });
      },
    },
  ],
  exports: [EmbeddingWorker],
})
export class WorkerModule implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    @Inject(EmbeddingWorker) private readonly worker: EmbeddingWorker,
    @Inject(QUEUE) private readonly queue: Queue,
    @Inject(EmbedderMetrics) private readonly metrics: EmbedderMetrics,
    @Inject(EmbeddingRepository) private readonly repo: EmbeddingRepository,
  ) {}

  onApplicationBootstrap(): void {
    this.metrics.watchQueue(() =>
      this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed'),
    );
    this.worker.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.worker.close();
    await this.repo.flush();
    await this.queue.close();
  }
}
