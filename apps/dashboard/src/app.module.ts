import { type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { AppConfigModule } from '@mmctr/config';
import { ClickHouseModule } from '@mmctr/clickhouse';
import { AppLoggerModule } from '@mmctr/observability';
import { DashboardApiKeyGuard } from './api-key.guard';
import { DashboardController } from './dashboard.controller';
import { DashboardConfigModule } from './dashboard-config';
import { DashboardService } from './dashboard.service';
import { DashboardDataModule } from './data.module';
import { HealthModule } from './health.module';
import { SecurityHeadersMiddleware } from './security-headers.middleware';

@Module({
  imports: [
    AppConfigModule,
    AppLoggerModule.forApp('dashboard'),
    DashboardConfigModule,
    ClickHouseModule,
    DashboardDataModule,
    HealthModule,
  ],
  controllers: [DashboardController],
  providers: [DashboardApiKeyGuard, DashboardService],
})
export class AppModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(SecurityHeadersMiddleware).forRoutes('*');
  }
}
