import type { DynamicModule } from '@nestjs/common';
import { ObservabilityModule, readyWhenAll } from '@mmctr/observability';
import { EmbeddingWorker } from '../embedding/embedding.worker';
import { WorkerModule } from '../embedding/worker.module';
import { EmbedderMetrics } from '../metrics/embedder-metrics';
import { EmbeddingRepository } from '../storage/embedding.repository';
import { MmVectorRepository } from '../storage/mm-vector.repository';

/**
 * `/health/live`, `/metrics` and `/health/ready`: ready when ClickHouse and Redis answer (through the
 * repositories' pings) and the worker consumes (models load before start-up).
 */
export const HealthModule: DynamicModule = ObservabilityModule.forRoot({
  imports: [WorkerModule],
  metrics: EmbedderMetrics,
  inject: [EmbeddingRepository, MmVectorRepository, EmbeddingWorker],
  readiness: (embeddings: EmbeddingRepository, vectors: MmVectorRepository, worker: EmbeddingWorker) =>
    readyWhenAll({
      clickhouse: () => embeddings.ping(),
      redis: () => vectors.ping(),
      worker: () => ({ ok: worker.running }),
    }),
});
