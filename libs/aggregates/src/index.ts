export * from './buckets';
export * from './counter-keys';
export * from './counter-layout';
export * from './count-plan';
export * from './aggregate-counters';
export * from './window-reader';
