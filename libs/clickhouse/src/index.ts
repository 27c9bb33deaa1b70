export * from './query-binder';
export * from './clickhouse-error';
export * from './clickhouse.service';
export * from './row-binary';
export * from './clickhouse.module';
export * from './migrations/migration-runner';
export * from './migrations/run-cli';
export * from './insert-isolating-poison';
