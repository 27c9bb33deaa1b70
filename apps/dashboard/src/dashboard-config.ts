import { z } from 'zod';
import { ConfigSectionModule, envInt as int, envKeyList, loadConfigSection } from '@mmctr/config';

/**
 * Dashboard-only settings. Connections, the embeddings queue's name and BullMQ prefix come from
 * @mmctr/config, the same variables the ingest producer and the embedder read.
 */
export const dashboardConfigSchema = z.object({
  DASHBOARD_SAMPLE_INTERVAL_MS: int(200, 600_000).default(5_000),
  DASHBOARD_SAMPLES_KEPT: int(10, 100_000).default(720),
  /** Accepted `x-api-key` values for the dashboard's data; unset leaves it open. */
  DASHBOARD_API_KEYS: envKeyList(),
});
export type DashboardConfig = z.output<typeof dashboardConfigSchema>;
export const DASHBOARD_CONFIG = Symbol('DASHBOARD_CONFIG');

/** Parses the dashboard's variables; throws ConfigError naming each malformed one. */
export function loadDashboardConfig(env: NodeJS.ProcessEnv = process.env): DashboardConfig {
  return loadConfigSection(dashboardConfigSchema, env);
}

export const DashboardConfigModule = ConfigSectionModule.forRoot(DASHBOARD_CONFIG, loadDashboardConfig);
