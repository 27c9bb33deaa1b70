export * from './logger';
export * from './http-app';
export * from './readiness.controller';
export * from './percentile';
export * from './worker-thread';
export * from './shutdown-watchdog';
export * from './api-key.guard';
