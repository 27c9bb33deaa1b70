import { randomBytes } from 'node:crypto';
import { loadConfig, type AppConfig } from '@mmctr/config';
import { clickHouseClient, clickHouseFromConfig, type ClickHouseService } from '@mmctr/clickhouse';

export const testConfig = (): AppConfig => loadConfig();

/** A client on the migrated test database. */
export const testClickHouse = (): ClickHouseService => clickHouseFromConfig(testConfig());

/** A client with no default database (can create and drop databases). */
export function adminClickHouse(): ClickHouseService {
  return clickHouseClient(testConfig());
}

export const uniqueName = (prefix: string): string =>
  `${prefix}_${Date.now()}_${randomBytes(3).toString('hex')}`;
