export * from './logger';
export * from './http-app';
