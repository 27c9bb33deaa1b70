import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { LOGGER, NestPinoLogger, reportFatal } from '@mmctr/observability';
import { AppModule } from './app.module';

export async function bootstrap(): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter(), {
    bufferLogs: true,
  });
  const log = app.get<Logger>(LOGGER);
  app.useLogger(new NestPinoLogger(log));
  app.enableShutdownHooks();
  const config = app.get<AppConfig>(APP_CONFIG);
  await app.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT });
  log.info({ url: await app.getUrl() }, 'dashboard listening');
  return app;
}

if (require.main === module) {
  bootstrap().catch((err: Error) => reportFatal('dashboard', 'start-up failed', err));
}
