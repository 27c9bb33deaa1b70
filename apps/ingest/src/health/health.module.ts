import type { DynamicModule } from '@nestjs/common';
import { ObservabilityModule } from '@mmctr/observability';
import { IngestConsumer } from '../ingest/ingest-consumer.service';
import { IngestKafkaRepository } from '../ingest/ingest-kafka.repository';
import { IngestModule } from '../ingest/ingest.module';
import { IngestOnlineRepository } from '../ingest/ingest-online.repository';
import { IngestRepository } from '../ingest/ingest.repository';
import { IngestMetrics } from '../metrics/ingest-metrics.service';
import { ingestReadiness } from './ingest-readiness';

/** `/health/live`, `/health/ready` (ingestReadiness) and `/metrics` (IngestMetrics' registry). */
export const HealthModule: DynamicModule = ObservabilityModule.forRoot({
  imports: [IngestModule],
  metrics: IngestMetrics,
  inject: [IngestRepository, IngestOnlineRepository, IngestKafkaRepository, IngestConsumer],
  readiness: (
    clickhouse: IngestRepository,
    redis: IngestOnlineRepository,
    kafka: IngestKafkaRepository,
    consumer: IngestConsumer,
  ) => ingestReadiness({ clickhouse, redis, kafka }, consumer),
});
