import { Inject, Injectable } from '@nestjs/common';
import { ApiKeyGuard } from '@mmctr/observability';
import { DASHBOARD_CONFIG, type DashboardConfig } from './dashboard-config';

/** The shared `x-api-key` check with the dashboard's keys; open when DASHBOARD_API_KEYS is unset. */
@Injectable()
export class DashboardApiKeyGuard extends ApiKeyGuard {
  constructor(@Inject(DASHBOARD_CONFIG) config: DashboardConfig) {
    super(config.DASHBOARD_API_KEYS);
  }
}
