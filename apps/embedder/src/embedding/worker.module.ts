import { type BeforeApplicationShutdown, Module, type OnApplicationBootstrap } from '@nestjs/common';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { embeddingQueueRef } from '@mmctr/online-store';
import { EMBEDDER_CONFIG, type EmbedderConfig } from '../config/embedder-config';
import { LOGGER } from '../logger';
import { EmbedderMetrics } from '../metrics/embedder-metrics';
import { EmbeddingRepository } from '../storage/embedding.repository';
import { EntityEmbeddingRepository } from '../storage/entity-embedding.repository';
import { BULL_REDIS } from '../tokens';
import { EmbeddingQueueRepository } from './embedding-queue.repository';
import { EmbeddingService } from './embedding.service';
import { EmbeddingWorker } from './embedding.worker';
import { EntityEmbeddingService } from './entity-embedding.service';

/** The queue consumer, started after bootstrap and drained before anything else shuts down. */
@Module({
  providers: [
    {
      provide: EmbeddingQueueRepository,
      inject: [BULL_REDIS, APP_CONFIG, EMBEDDER_CONFIG],
      useFactory: (redis: Redis, app: AppConfig, c: EmbedderConfig) =>
        new EmbeddingQueueRepository(redis, {
          queue: embeddingQueueRef(app).name,
          prefix: embeddingQueueRef(app).prefix,
          concurrency: c.EMBEDDER_CONCURRENCY,
          lockDurationMs: c.EMBEDDER_LOCK_DURATION_MS,
          stalledIntervalMs: c.EMBEDDER_STALLED_INTERVAL_MS,
        }),
    },
    {
      provide: EmbeddingWorker,
      inject: [
        EmbeddingService,
        EmbeddingQueueRepository,
        EmbedderMetrics,
        LOGGER,
        EMBEDDER_CONFIG,
        EntityEmbeddingService,
      ],
      useFactory: (
        service: EmbeddingService,
        queue: EmbeddingQueueRepository,
        metrics: EmbedderMetrics,
        log: Logger,
        c: EmbedderConfig,
        entities: EntityEmbeddingService,
      ) =>
        new EmbeddingWorker(
          service,
          queue,
          metrics,
          log,
          { shutdownGraceMs: c.EMBEDDER_SHUTDOWN_GRACE_MS },
          entities,
        ),
    },
  ],
  exports: [EmbeddingWorker],
})
export class WorkerModule implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    private readonly worker: EmbeddingWorker,
    private readonly queue: EmbeddingQueueRepository,
    private readonly metrics: EmbedderMetrics,
    private readonly repo: EmbeddingRepository,
    private readonly entityRows: EntityEmbeddingRepository,
  ) {}

  onApplicationBootstrap(): void {
    this.metrics.watchQueue(() => this.queue.jobCounts());
    this.worker.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.worker.close();
    await Promise.all([this.repo.flush(), this.entityRows.flush()]);
    await this.queue.close();
  }
}
