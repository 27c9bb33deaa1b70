import { Module } from '@nestjs/common';
import { AppConfigModule } from '@mmctr/config';
import { ClickHouseModule } from '@mmctr/clickhouse';
import { FeatureRepoModule, repositoryAppliedCheck } from '@mmctr/feature-repo';
import { AppLoggerModule } from '@mmctr/observability';
import { AdmissionModule } from './admission/admission.module';
import { ScorerConfigModule } from './config/scorer-config';
import { HealthModule } from './health/health.module';
import { ServingLayoutModule } from './layout/layout.module';
import { MetricsModule } from './metrics/metrics.module';
import { ScorerRedisModule } from './redis/redis.module';
import { ScoreLogSinkModule } from './score-log-sink/score-log-sink.module';
import { ScoringModule } from './scoring/scoring.module';

@Module({
  imports: [
    AppConfigModule,
    FeatureRepoModule,
    ScorerConfigModule,
    ServingLayoutModule,
    AppLoggerModule.forApp('scorer'),
    MetricsModule,
    AdmissionModule,
    ClickHouseModule,
    ScorerRedisModule,
    ScoringModule,
    HealthModule,
    ScoreLogSinkModule,
  ],
  // Refuses to start on a repository version never applied to the database.
  providers: [repositoryAppliedCheck],
})
export class ScorerAppModule {}
