import { Global, Module } from '@nestjs/common';
import { ScorerMetrics } from './scorer-metrics';
import { MetricsController } from './metrics.controller';

@Global()
@Module({ providers: [ScorerMetrics], controllers: [MetricsController], exports: [ScorerMetrics] })
export class MetricsModule {}
