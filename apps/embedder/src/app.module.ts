import { Global, Module } from '@nestjs/common';
import { AppConfigModule, APP_CONFIG, type AppConfig } from '@mmctr/config';
import { ClickHouseModule } from '@mmctr/clickhouse';
import { FeatureRepoModule } from '@mmctr/feature-repo';
import { EmbeddingModule } from './embedding/embedding.module';
import { WorkerModule } from './embedding/worker.module';
import { HealthModule } from './health/health.module';
import { LOGGER, createLogger } from './logger';

@Global()
@Module({
  providers: [
    { provide: LOGGER, inject: [APP_CONFIG], useFactory: (c: AppConfig) => createLogger(c.LOG_LEVEL) },
  ],
  exports: [LOGGER],
})
export class LoggerModule {}

/**
 * Encoders, storage and the CLI's services; no queue consumer (the CLI runs this alone). The running
 * feature repository (FEATURE_REPO) names the entity embeddings it computes.
 */
@Module({ imports: [AppConfigModule, LoggerModule, ClickHouseModule, FeatureRepoModule, EmbeddingModule] })
export class EmbedderCoreModule {}

@Module({ imports: [EmbedderCoreModule, WorkerModule, HealthModule] })
export class AppModule {}
