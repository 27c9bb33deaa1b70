import 'reflect-metadata';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { reportFatal, startHttpApp } from '@mmctr/observability';
import { AppModule } from './app.module';

// SIGTERM/SIGINT: stop taking jobs, finish the active ones, flush, release the threads.
export const bootstrap = (): Promise<NestFastifyApplication> => startHttpApp(AppModule, 'embedder');

if (require.main === module) {
  bootstrap().catch((err: Error) => reportFatal('embedder', 'start-up failed', err));
}
