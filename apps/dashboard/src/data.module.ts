import { Module } from '@nestjs/common';
import { AnalyticsRepository } from './analytics.repository';
import { PipelineStateRepository } from './pipeline-state.repository';

/** The dashboard's repositories: ClickHouse views, Kafka lag and the embeddings queue. */
@Module({
  providers: [AnalyticsRepository, PipelineStateRepository],
  exports: [AnalyticsRepository, PipelineStateRepository],
})
export class DashboardDataModule {}
