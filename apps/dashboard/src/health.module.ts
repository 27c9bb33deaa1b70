import type { DynamicModule } from '@nestjs/common';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { ObservabilityModule, readyWhenAll } from '@mmctr/observability';
import { AnalyticsRepository } from './analytics.repository';
import { DashboardDataModule } from './data.module';

/** The dashboard process's own metrics (it exports no others). */
function dashboardRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'mmctr_dashboard_' });
  return registry;
}

/**
 * `/health/live`, `/metrics` and `/health/ready`: ready when ClickHouse answers. Kafka and Redis only
 * feed the lag and queue charts, which show their absence, so they are not required.
 */
export const HealthModule: DynamicModule = ObservabilityModule.forRoot({
  imports: [DashboardDataModule],
  inject: [AnalyticsRepository],
  registry: dashboardRegistry,
  readiness: (analytics: AnalyticsRepository) => readyWhenAll({ clickhouse: () => analytics.ping() }),
});
