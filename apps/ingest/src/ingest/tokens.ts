export const KAFKA = Symbol('KAFKA');
export const REDIS = Symbol('REDIS');
export const ONLINE_STORE = Symbol('ONLINE_STORE');
export const EMBEDDING_QUEUE = Symbol('EMBEDDING_QUEUE');
export const INGEST_SCHEMA = Symbol('INGEST_SCHEMA');
export const AGGREGATE_COUNTERS = Symbol('AGGREGATE_COUNTERS');
