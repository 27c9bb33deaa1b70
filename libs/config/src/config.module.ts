import { type DynamicModule, Global, Module } from '@nestjs/common';
import { type AppConfig, loadConfig } from './app-config';

export const APP_CONFIG = Symbol('APP_CONFIG');

/** Validates the environment once at start-up and provides the typed config everywhere. */
@Global()
@Module({
  providers: [{ provide: APP_CONFIG, useFactory: (): AppConfig => loadConfig() }],
  exports: [APP_CONFIG],
})
export class AppConfigModule {}

/** An app's own config section, provided everywhere like AppConfigModule's. */
@Module({})
export class ConfigSectionModule {
  /** `load` parses the section from the environment once, at start-up (a bad variable stops it). */
  static forRoot(token: symbol, load: () => unknown): DynamicModule {
    return {
      module: ConfigSectionModule,
      global: true,
      providers: [{ provide: token, useFactory: () => load() }],
      exports: [token],
    };
  }
}
