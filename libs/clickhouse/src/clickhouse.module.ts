import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { ClickHouseService } from './clickhouse.service';

export function clickHouseFromConfig(config: AppConfig): ClickHouseService {
  return new ClickHouseService({
    url: config.CLICKHOUSE_URL,
    database: config.CLICKHOUSE_DATABASE,
    username: config.CLICKHOUSE_USER,
    password: config.CLICKHOUSE_PASSWORD,
    requestTimeoutMs: config.CLICKHOUSE_REQUEST_TIMEOUT_MS,
  });
}

@Global()
@Module({
  providers: [{ provide: ClickHouseService, inject: [APP_CONFIG], useFactory: clickHouseFromConfig }],
  exports: [ClickHouseService],
})
export class ClickHouseModule implements OnApplicationShutdown {
  constructor(@Inject(ClickHouseService) private readonly clickhouse: ClickHouseService) {}

  async onApplicationShutdown(): Promise<void> {
    await this.clickhouse.close();
  }
}
