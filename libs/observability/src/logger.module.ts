import { type DynamicModule, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { LOGGER, createLogger } from './logger';

/** The apps' LOGGER provider, one module for all of them. */
@Module({})
export class AppLoggerModule {
  /** Provides LOGGER to the whole app (global): `app`'s JSON logger at the configured LOG_LEVEL. */
  static forApp(app: string): DynamicModule {
    return {
      module: AppLoggerModule,
      global: true,
      providers: [
        {
          provide: LOGGER,
          inject: [APP_CONFIG],
          useFactory: (c: AppConfig) => createLogger(app, c.LOG_LEVEL, c.LOG_STREAM),
        },
      ],
      exports: [LOGGER],
    };
  }
}
