import { Global, Module } from '@nestjs/common';
import { IngestMetrics } from './ingest-metrics.service';
import { MetricsController } from './metrics.controller';

@Global()
@Module({ providers: [IngestMetrics], controllers: [MetricsController], exports: [IngestMetrics] })
export class MetricsModule {}
