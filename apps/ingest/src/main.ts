import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { AppModule } from './app.module';
import { LOGGER, NestPinoLogger } from './logger';
import type { Logger } from 'pino';

export async function bootstrap(): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter(), {
    bufferLogs: true,
  });
  const log = app.get<Logger>(LOGGER);
  app.useLogger(new NestPinoLogger(log));
  // SIGTERM/SIGINT run the shutdown hooks: flush, commit, leave the group, close clients.
  app.enableShutdownHooks();
  const config = app.get<AppConfig>(APP_CONFIG);
  await app.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT });
  log.info({ url: await app.getUrl() }, 'ingest listening');
  return app;
}

if (require.main === module) {
  bootstrap().catch((err: Error) => {
    process.stderr.write(
      JSON.stringify({
        level: 'fatal',
        time: Date.now(),
        app: 'ingest',
        msg: 'start-up failed',
        err: err.message,
      }) + '\n',
    );
    process.exit(1);
  });
}
