export * from './hash';
export * from './spec';
export * from './encode';
