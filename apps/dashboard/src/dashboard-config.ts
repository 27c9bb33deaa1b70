import { z } from 'zod';
import { loadConfigSection } from '@mmctr/config';

/** Dashboard-only settings; the shared connection settings come from @mmctr/config. */
export const dashboardConfigSchema = z.object({
  DASHBOARD_SAMPLE_INTERVAL_MS: z.coerce.number().int().min(200).max(600_000).default(5_000),
  DASHBOARD_SAMPLES_KEPT: z.coerce.number().int().min(10).max(100_000).default(720),
  EMBED_QUEUE_NAME: z.string().min(1).default('item-embeddings'),
});
export type DashboardConfig = z.output<typeof dashboardConfigSchema>;
export const DASHBOARD_CONFIG = Symbol('DASHBOARD_CONFIG');

export function loadDashboardConfig(env: NodeJS.ProcessEnv = process.env): DashboardConfig {
  return loadConfigSection(dashboardConfigSchema, env);
}
