// The app's logger token and Nest log adapter; AppLoggerModule (@mmctr/observability) provides the logger.
export { LOGGER, NestPinoLogger } from '@mmctr/observability';
