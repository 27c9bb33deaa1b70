import { Global, Module } from '@nestjs/common';
import { AppConfigModule, APP_CONFIG, type AppConfig } from '@mmctr/config';
import { ClickHouseModule } from '@mmctr/clickhouse';
import { FeatureRepoModule } from '@mmctr/feature-repo';
import { HealthModule } from './health/health.module';
import { IngestModule } from './ingest/ingest.module';
import { LOGGER, createLogger } from './logger';
import { MetricsModule } from './metrics/metrics.module';

@Global()
@Module({
  providers: [
    { provide: LOGGER, inject: [APP_CONFIG], useFactory: (c: AppConfig) => createLogger(c.LOG_LEVEL) },
  ],
  exports: [LOGGER],
})
class LoggerModule {}

@Module({
  imports: [
    AppConfigModule,
    LoggerModule,
    FeatureRepoModule,
    ClickHouseModule,
    MetricsModule,
    IngestModule,
    HealthModule,
  ],
})
export class AppModule {}
