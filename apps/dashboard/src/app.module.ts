import { Module } from '@nestjs/common';
import { APP_CONFIG, AppConfigModule, type AppConfig } from '@mmctr/config';
import { ClickHouseModule } from '@mmctr/clickhouse';
import { LOGGER, createLogger } from '@mmctr/observability';
import { AnalyticsRepository } from './analytics.repository';
import { DashboardController } from './dashboard.controller';
import { DASHBOARD_CONFIG, loadDashboardConfig } from './dashboard-config';
import { DashboardService } from './dashboard.service';
import { PipelineStateRepository } from './pipeline-state.repository';

@Module({
  imports: [AppConfigModule, ClickHouseModule],
  controllers: [DashboardController],
  providers: [
    { provide: DASHBOARD_CONFIG, useFactory: () => loadDashboardConfig() },
    {
      provide: LOGGER,
      inject: [APP_CONFIG],
      useFactory: (c: AppConfig) => createLogger('dashboard', c.LOG_LEVEL),
    },
    AnalyticsRepository,
    PipelineStateRepository,
    DashboardService,
  ],
})
export class AppModule {}
