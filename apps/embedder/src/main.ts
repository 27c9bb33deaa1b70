import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { AppModule } from './app.module';
import { LOGGER, NestPinoLogger } from './logger';

export async function bootstrap(): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter(), {
    bufferLogs: true,
  });
  const log = app.get<Logger>(LOGGER);
  app.useLogger(new NestPinoLogger(log));
  // SIGTERM/SIGINT: stop taking jobs, finish the active ones, flush, release the threads.
  app.enableShutdownHooks();
  const config = app.get<AppConfig>(APP_CONFIG);
  await app.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT });
  log.info({ url: await app.getUrl() }, 'embedder listening');
  return app;
}

if (require.main === module) {
  bootstrap().catch((err: Error) => {
    process.stderr.write(
      JSON.stringify({
        level: 'fatal',
        time: Date.now(),
        app: 'embedder',
        msg: 'start-up failed',
        err: err.message,
      }) + '\n',
    );
    process.exit(1);
  });
}
