import { join } from 'node:path';
import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { loadFeatureRepo } from './load';
import type { FeatureRepo } from './types';

/** The built-in demo repository, used when FEATURE_REPO is unset. */
export const DEFAULT_FEATURE_REPO_PATH = join(__dirname, '..', '..', '..', 'feature-repos', 'demo');

/** Injection token of the running feature repository (a frozen `FeatureRepo`). */
export const FEATURE_REPO = Symbol('FEATURE_REPO');

/** The repository FEATURE_REPO names (or the demo's); an invalid one fails startup with every path-named error. */
export function featureRepoFromConfig(config: Pick<AppConfig, 'FEATURE_REPO'>): FeatureRepo {
  return loadFeatureRepo(config.FEATURE_REPO ?? DEFAULT_FEATURE_REPO_PATH);
}

@Global()
@Module({
  providers: [{ provide: FEATURE_REPO, inject: [APP_CONFIG], useFactory: featureRepoFromConfig }],
  exports: [FEATURE_REPO],
})
export class FeatureRepoModule {}
