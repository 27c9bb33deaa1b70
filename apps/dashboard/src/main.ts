import 'reflect-metadata';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { reportFatal, startHttpApp } from '@mmctr/observability';
import { AppModule } from './app.module';

export const bootstrap = (): Promise<NestFastifyApplication> => startHttpApp(AppModule, 'dashboard');

if (require.main === module) {
  bootstrap().catch((err: Error) => reportFatal('dashboard', 'start-up failed', err));
}
