export * from './hash';
export * from './hash-cache';
export * from './spec';
export * from './slots';
export * from './encode';
export * from './value-ids';
