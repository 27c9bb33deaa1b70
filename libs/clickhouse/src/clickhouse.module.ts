import { Global, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { ClickHouseService } from './clickhouse.service';

/**
 * A client of the configured server with the configured credentials: in `database` when given, else
 * server-level (statements name their database, as migrations and admin commands do); the request
 * timeout as given, else the client's default.
 */
export function clickHouseClient(
  config: Pick<AppConfig, 'CLICKHOUSE_URL' | 'CLICKHOUSE_USER' | 'CLICKHOUSE_PASSWORD'>,
  opts: { database?: string; requestTimeoutMs?: number } = {},
): ClickHouseService {
  return new ClickHouseService({
    url: config.CLICKHOUSE_URL,
    username: config.CLICKHOUSE_USER,
    password: config.CLICKHOUSE_PASSWORD,
    ...opts,
  });
}

/** The apps' client: the configured database and request timeout. */
export function clickHouseFromConfig(config: AppConfig): ClickHouseService {
  return clickHouseClient(config, {
    database: config.CLICKHOUSE_DATABASE,
    requestTimeoutMs: config.CLICKHOUSE_REQUEST_TIMEOUT_MS,
  });
}

@Global()
@Module({
  providers: [{ provide: ClickHouseService, inject: [APP_CONFIG], useFactory: clickHouseFromConfig }],
  exports: [ClickHouseService],
})
export class ClickHouseModule implements OnApplicationShutdown {
  constructor(private readonly clickhouse: ClickHouseService) {}

  async onApplicationShutdown(): Promise<void> {
    await this.clickhouse.close();
  }
}
