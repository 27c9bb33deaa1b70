import { Module } from '@nestjs/common';
import { AppConfigModule } from '@mmctr/config';
import { ClickHouseModule } from '@mmctr/clickhouse';
import { FeatureRepoModule } from '@mmctr/feature-repo';
import { AppLoggerModule } from '@mmctr/observability';
import { EmbeddingModule } from './embedding/embedding.module';
import { WorkerModule } from './embedding/worker.module';
import { HealthModule } from './health/health.module';

/**
 * Encoders, storage and the CLI's services; no queue consumer (the CLI runs this alone). The running
 * feature repository (FEATURE_REPO) names the entity embeddings it computes.
 */
@Module({
  imports: [
    AppConfigModule,
    AppLoggerModule.forApp('embedder'),
    ClickHouseModule,
    FeatureRepoModule,
    EmbeddingModule,
  ],
})
export class EmbedderCoreModule {}

@Module({ imports: [EmbedderCoreModule, WorkerModule, HealthModule] })
export class AppModule {}
