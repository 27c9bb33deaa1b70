export * from './app-config';
export * from './env-types';
export * from './config.module';
