import { type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { APP_CONFIG, AppConfigModule, type AppConfig } from '@mmctr/config';
import { ClickHouseModule } from '@mmctr/clickhouse';
import { LOGGER, createLogger } from '@mmctr/observability';
import { DashboardApiKeyGuard } from './api-key.guard';
import { DashboardController } from './dashboard.controller';
import { DashboardConfigModule } from './dashboard-config';
import { DashboardService } from './dashboard.service';
import { DashboardDataModule } from './data.module';
import { HealthModule } from './health.module';
import { SecurityHeadersMiddleware } from './security-headers.middleware';

@Module({
  imports: [AppConfigModule, DashboardConfigModule, ClickHouseModule, DashboardDataModule, HealthModule],
  controllers: [DashboardController],
  providers: [
    {
      provide: LOGGER,
      inject: [APP_CONFIG],
      useFactory: (c: AppConfig) => createLogger('dashboard', c.LOG_LEVEL),
    },
    DashboardApiKeyGuard,
    DashboardService,
  ],
})
export class AppModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(SecurityHeadersMiddleware).forRoutes('*');
  }
}
