import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { ClickHouseService } from '@mmctr/clickhouse';
import { FEATURE_REPO, type FeatureRepo } from '@mmctr/feature-repo';
import { createBullRedis, createRedis } from '@mmctr/online-store';
import { EMBEDDER_CONFIG, type EmbedderConfig, loadEmbedderConfig } from '../config/embedder-config';
import { ImageLoader } from '../image/image-loader';
import { InferencePool } from '../inference/inference-pool';
import { readModelSet, type ModelSet } from '../inference/model-manifest';
import { LOGGER } from '../logger';
import { EmbedderMetrics } from '../metrics/embedder-metrics';
import { ProjectionStore } from '../projection/projection-store';
import type { BatchOptions } from '../storage/batched-insert';
import { EmbeddingRepository } from '../storage/embedding.repository';
import { EntityEmbeddingRepository } from '../storage/entity-embedding.repository';
import { MmVectorRepository } from '../storage/mm-vector.repository';
import { BULL_REDIS, INFERENCE_POOL, MODEL_SET, REDIS } from '../tokens';
import { BackfillService } from './backfill.service';
import { EmbeddingService } from './embedding.service';
import { EntityEmbeddingService, EntityEmbeddings } from './entity-embedding.service';

/**
 * Rows waiting for an insert hold their jobs' slots: at most half of them may wait, so the other half
 * keeps the inference batches full.
 */
function writeBatchOptions(c: EmbedderConfig): BatchOptions {
  return {
    maxRows: Math.min(c.EMBEDDER_WRITE_MAX_ROWS, Math.max(1, Math.floor(c.EMBEDDER_CONCURRENCY / 2))),
    maxWaitMs: c.EMBEDDER_WRITE_MAX_WAIT_MS,
  };
}

/**
 * Everything that embeds an item or an entity, without the queue consumer: the app adds the worker, the
 * CLI uses this alone. Needs AppConfigModule, ClickHouseModule, FeatureRepoModule and a LOGGER provider.
 */
@Global()
@Module({
  providers: [
    { provide: EMBEDDER_CONFIG, useFactory: (): EmbedderConfig => loadEmbedderConfig() },
    {
      provide: MODEL_SET,
      inject: [EMBEDDER_CONFIG],
      useFactory: (c: EmbedderConfig) => readModelSet(c.EMBEDDER_MODELS_DIR),
    },
    { provide: EmbedderMetrics, useFactory: () => new EmbedderMetrics() },
    {
      provide: INFERENCE_POOL,
      inject: [MODEL_SET, EMBEDDER_CONFIG, EmbedderMetrics],
      useFactory: (models: ModelSet, c: EmbedderConfig, metrics: EmbedderMetrics) =>
        InferencePool.start(models, {
          threads: c.EMBEDDER_INFERENCE_THREADS,
          intraOpThreads: c.EMBEDDER_ORT_THREADS,
          textRuns: c.EMBEDDER_TEXT_RUNS,
          maxBatch: c.EMBEDDER_BATCH_MAX,
          maxWaitMs: c.EMBEDDER_BATCH_WAIT_MS,
          onBatch: (s) => {
            metrics.batchSeconds.observe({ encoder: s.kind }, s.seconds);
            metrics.batchSize.observe({ encoder: s.kind }, s.size);
          },
        }),
    },
    {
      provide: REDIS,
      inject: [APP_CONFIG],
      // Up to EMBEDDER_CONCURRENCY jobs each make small calls (stale check, vector write): coalesce them.
      useFactory: (c: AppConfig) => createRedis(c, { autoPipelining: true }),
    },
    {
      provide: BULL_REDIS,
      inject: [APP_CONFIG],
      useFactory: (c: AppConfig) => createBullRedis(c),
    },
    {
      provide: ProjectionStore,
      inject: [EMBEDDER_CONFIG],
      useFactory: (c: EmbedderConfig) =>
        new ProjectionStore(c.EMBEDDER_PROJECTIONS_DIR, c.EMBEDDER_PROJECTION_RELOAD_MS),
    },
    {
      provide: ImageLoader,
      inject: [EMBEDDER_CONFIG],
      useFactory: (c: EmbedderConfig) =>
        new ImageLoader({
          allowedHosts: c.EMBEDDER_IMAGE_ALLOWED_HOSTS,
          allowPrivate: c.EMBEDDER_IMAGE_ALLOW_PRIVATE,
          allowFiles: c.EMBEDDER_IMAGE_ALLOW_FILES,
          fileRoots: c.EMBEDDER_IMAGE_FILE_ROOTS,
          maxBytes: c.EMBEDDER_IMAGE_MAX_BYTES,
          timeoutMs: c.EMBEDDER_IMAGE_TIMEOUT_MS,
          maxRedirects: c.EMBEDDER_IMAGE_MAX_REDIRECTS,
        }),
    },
    {
      provide: EmbeddingRepository,
      inject: [ClickHouseService, EMBEDDER_CONFIG],
      useFactory: (ch: ClickHouseService, c: EmbedderConfig) =>
        new EmbeddingRepository(ch, writeBatchOptions(c)),
    },
    {
      provide: MmVectorRepository,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: Redis, c: AppConfig) => new MmVectorRepository(redis, c.REDIS_KEY_PREFIX),
    },
    {
      provide: EmbeddingService,
      inject: [
        MODEL_SET,
        ImageLoader,
        INFERENCE_POOL,
        ProjectionStore,
        EmbeddingRepository,
        MmVectorRepository,
        EMBEDDER_CONFIG,
      ],
      useFactory: (
        models: ModelSet,
        loader: ImageLoader,
        pool: InferencePool,
        projections: ProjectionStore,
        repo: EmbeddingRepository,
        mm: MmVectorRepository,
        c: EmbedderConfig,
      ) =>
        new EmbeddingService(models, loader, pool, projections, repo, mm, {
          maxPixels: c.EMBEDDER_IMAGE_MAX_PIXELS,
        }),
    },
    {
      provide: EntityEmbeddings,
      inject: [FEATURE_REPO, MODEL_SET, LOGGER],
      useFactory: (repo: FeatureRepo, models: ModelSet, log: Logger) => {
        const e = new EntityEmbeddings(repo, models.text.dim);
        for (const s of e.specs.values())
          log.info(
            { embedding: s.name, entity: s.entity, inputs: s.inputs.map((i) => i.attribute), width: s.width },
            'entity embedding: text encoder',
          );
        for (const u of e.unsupported)
          log.warn(
            { embedding: u.name, entity: u.entity, reason: u.reason },
            'entity embedding not embedded',
          );
        return e;
      },
    },
    {
      provide: EntityEmbeddingRepository,
      inject: [ClickHouseService, EMBEDDER_CONFIG],
      useFactory: (ch: ClickHouseService, c: EmbedderConfig) =>
        new EntityEmbeddingRepository(ch, writeBatchOptions(c)),
    },
    {
      provide: EntityEmbeddingService,
      inject: [EntityEmbeddings, INFERENCE_POOL, MODEL_SET, EntityEmbeddingRepository, MmVectorRepository],
      useFactory: (
        e: EntityEmbeddings,
        pool: InferencePool,
        models: ModelSet,
        rows: EntityEmbeddingRepository,
        mm: MmVectorRepository,
      ) => new EntityEmbeddingService(e, pool, models.text.id, rows, mm),
    },
    {
      provide: BackfillService,
      inject: [
        MODEL_SET,
        EmbeddingService,
        EmbeddingRepository,
        MmVectorRepository,
        ProjectionStore,
        EMBEDDER_CONFIG,
      ],
      useFactory: (
        models: ModelSet,
        service: EmbeddingService,
        repo: EmbeddingRepository,
        mm: MmVectorRepository,
        projections: ProjectionStore,
        c: EmbedderConfig,
      ) =>
        new BackfillService(models, service, repo, mm, projections, {
          fusedDim: c.EMBEDDER_FUSED_DIM,
          pcaSample: c.EMBEDDER_PCA_SAMPLE,
        }),
    },
  ],
  exports: [
    EMBEDDER_CONFIG,
    MODEL_SET,
    INFERENCE_POOL,
    REDIS,
    BULL_REDIS,
    EmbedderMetrics,
    ProjectionStore,
    EmbeddingRepository,
    MmVectorRepository,
    EmbeddingService,
    EntityEmbeddings,
    EntityEmbeddingRepository,
    EntityEmbeddingService,
    BackfillService,
  ],
})
export class EmbeddingModule implements OnApplicationShutdown {
  constructor(
    @Inject(INFERENCE_POOL) private readonly pool: InferencePool,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(BULL_REDIS) private readonly bullRedis: Redis,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.pool.close();
    await Promise.allSettled([this.redis.quit(), this.bullRedis.quit()]);
    this.log.info('embedder resources released');
  }
}
