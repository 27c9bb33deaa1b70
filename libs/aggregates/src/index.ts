export * from './buckets';
export * from './counter-layout';
export * from './count-plan';
export * from './aggregate-counters';
