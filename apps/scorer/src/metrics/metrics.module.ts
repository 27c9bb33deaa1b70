import { Global, Module } from '@nestjs/common';
import { ScorerMetrics } from './scorer-metrics';

/** ScorerMetrics for every module; HealthModule serves its registry at `/metrics`. */
@Global()
@Module({ providers: [ScorerMetrics], exports: [ScorerMetrics] })
export class MetricsModule {}
