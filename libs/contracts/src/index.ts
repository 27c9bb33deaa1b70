export * from './types';
export * from './validators';
export * from './well-formed';
export * from './topics';
