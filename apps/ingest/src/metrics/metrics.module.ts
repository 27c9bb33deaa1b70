import { Global, Module } from '@nestjs/common';
import { IngestMetrics } from './ingest-metrics.service';

/** IngestMetrics for every module; HealthModule serves its registry at `/metrics`. */
@Global()
@Module({ providers: [IngestMetrics], exports: [IngestMetrics] })
export class MetricsModule {}
