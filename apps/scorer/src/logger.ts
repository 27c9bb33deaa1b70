import { Global, Inject, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { LOGGER, createLogger as createAppLogger } from '@mmctr/observability';

export { LOGGER, NestPinoLogger } from '@mmctr/observability';

/** This app's JSON logger; the setup is shared in @mmctr/observability. */
export const createLogger = (level: string): Logger => createAppLogger('scorer', level);

@Global()
@Module({
  providers: [
    { provide: LOGGER, inject: [APP_CONFIG], useFactory: (c: AppConfig) => createLogger(c.LOG_LEVEL) },
  ],
  exports: [LOGGER],
})
export class LoggerModule {
  constructor(@Inject(LOGGER) readonly logger: Logger) {}
}
