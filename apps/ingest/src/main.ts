import 'reflect-metadata';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { reportFatal, startHttpApp } from '@mmctr/observability';
import { AppModule } from './app.module';

// SIGTERM/SIGINT run the shutdown hooks: flush, commit, leave the group, close clients; startHttpApp's
// watchdog ends the process after SHUTDOWN_TIMEOUT_MS if a store keeps them waiting.
export const bootstrap = (): Promise<NestFastifyApplication> => startHttpApp(AppModule, 'ingest');

if (require.main === module) {
  bootstrap().catch((err: Error) => reportFatal('ingest', 'start-up failed', err));
}
