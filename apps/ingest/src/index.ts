export * from './ingest/batcher';
export * from './ingest/chunk';
export * from './ingest/message-router';
export * from './ingest/row-mappers';
