import { Global, Inject, Module, type LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';

export const LOGGER = Symbol('LOGGER');

export function createLogger(level: string): Logger {
  return pino({ level, base: { app: 'scorer', pid: process.pid } });
}

/** Routes Nest's own messages into the same JSON log stream. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string) {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string) {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string) {
    this.logger.trace({ context }, String(message));
  }
}

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
