import 'reflect-metadata';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { reportFatal, startHttpApp } from '@mmctr/observability';
import { AppModule } from './app.module';

// SIGTERM/SIGINT run the shutdown hooks: flush, commit, leave the group, close clients.
export const bootstrap = (): Promise<NestFastifyApplication> => startHttpApp(AppModule, 'ingest');

if (require.main === module) {
  bootstrap().catch((err: Error) => reportFatal('ingest', 'start-up failed', err));
}
