import { Module } from '@nestjs/common';
import { AppConfigModule } from '@mmctr/config';
import { ClickHouseModule } from '@mmctr/clickhouse';
import { FeatureRepoModule } from '@mmctr/feature-repo';
import { AppLoggerModule } from '@mmctr/observability';
import { HealthModule } from './health/health.module';
import { IngestModule } from './ingest/ingest.module';
import { MetricsModule } from './metrics/metrics.module';

@Module({
  imports: [
    AppConfigModule,
    AppLoggerModule.forApp('ingest'),
    FeatureRepoModule,
    ClickHouseModule,
    MetricsModule,
    IngestModule,
    HealthModule,
  ],
})
export class AppModule {}
