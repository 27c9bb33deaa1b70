import type { Logger } from 'pino';
import { createLogger as createAppLogger } from '@mmctr/observability';

export { LOGGER, NestPinoLogger } from '@mmctr/observability';

/** This app's JSON logger; the setup is shared in @mmctr/observability. */
export const createLogger = (level: string): Logger => createAppLogger('ingest', level);
