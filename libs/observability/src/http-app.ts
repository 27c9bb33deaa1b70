import type { Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig, loadConfig } from '@mmctr/config';
import { createLogger, LOGGER, NestPinoLogger } from './logger';
import { installShutdownWatchdog } from './shutdown-watchdog';

/**
 * Starts an app's Nest module on Fastify: its JSON logger for Nest's own messages, shutdown hooks on
 * SIGTERM/SIGINT (each app flushes and closes its clients there) bounded by SHUTDOWN_TIMEOUT_MS,
 * HTTP_HOST:HTTP_PORT from config. The module must provide LOGGER and APP_CONFIG.
 */
export async function startHttpApp(module: Type<unknown>, name: string): Promise<NestFastifyApplication> {
  // Before the module is built: a signal during start-up is bounded too.
  const boot = loadConfig();
  const removeWatchdog = installShutdownWatchdog(createLogger(name, boot.LOG_LEVEL), {
    timeoutMs: boot.SHUTDOWN_TIMEOUT_MS,
  });
  const app = await NestFactory.create<NestFastifyApplication>(module, new FastifyAdapter(), {
    bufferLogs: true,
  });
  const log = app.get<Logger>(LOGGER);
  app.useLogger(new NestPinoLogger(log));
  app.enableShutdownHooks();
  // An app closed in-process (tests) takes its watchdog's signal listeners with it.
  const close = app.close.bind(app);
  app.close = async () => {
    try {
      await close();
    } finally {
      removeWatchdog();
    }
  };
  const config = app.get<AppConfig>(APP_CONFIG);
  await app.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT });
  log.info({ url: await app.getUrl() }, `${name} listening`);
  return app;
}
