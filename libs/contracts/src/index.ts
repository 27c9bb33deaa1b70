export * from './types';
export * from './validators';
export * from './topics';
