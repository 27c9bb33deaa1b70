import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';

export const LOGGER = Symbol('LOGGER');

/** Structured JSON logs, one line per record, tagged with the app's name. */
export function createLogger(app: string, level: string, stream: 'stdout' | 'stderr' = 'stdout'): Logger {
  const options = { level, base: { app, pid: process.pid } };
  return stream === 'stderr' ? pino(options, pino.destination(2)) : pino(options);
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

/** Last-resort start-up failure line, for when the logger itself could not be built. */
export function reportFatal(app: string, msg: string, err: Error): never {
  process.stderr.write(
    JSON.stringify({ level: 'fatal', time: Date.now(), app, msg, err: err.message }) + '\n',
  );
  process.exit(1);
}
