export * from './redis-client';
export * from './content-hash';
export * from './history';
export * from './online-store';
export * from './item-embedding-queue';
export * from './mm-vector-key';
export * from './slot-batch';
export * from './delete-keys';
