import { relative } from 'node:path';
import type { Provider } from '@nestjs/common';
import { ClickHouseService } from '@mmctr/clickhouse';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { DEFAULT_FEATURE_REPO_PATH, FEATURE_REPO } from '../feature-repo.module';
import type { FeatureRepo } from '../types';
import { assertRepositoryApplied } from './apply';
import { FeatureStoreRepository } from './feature-store.repository';

/** The running repository's folder as `mmctr features apply` takes it (the demo's relative to the working directory). */
export const runningRepoPath = (config: Pick<AppConfig, 'FEATURE_REPO'>): string =>
  config.FEATURE_REPO ?? (relative(process.cwd(), DEFAULT_FEATURE_REPO_PATH) || '.');

/**
 * An app's startup check: the running repository's version is recorded in the ledger of
 * CLICKHOUSE_DATABASE, so the tables hold what it declares. Fails naming the repository, version,
 * database and the command that fixes it.
 */
export function assertRunningRepositoryApplied(
  clickhouse: ClickHouseService,
  config: Pick<AppConfig, 'FEATURE_REPO' | 'CLICKHOUSE_DATABASE'>,
  repo: FeatureRepo,
): Promise<void> {
  const store = new FeatureStoreRepository(clickhouse, config.CLICKHOUSE_DATABASE);
  return assertRepositoryApplied(store, repo, runningRepoPath(config));
}

/** Token of the startup check's provider (its value means nothing: instantiating it runs the check). */
export const REPOSITORY_APPLIED = Symbol('REPOSITORY_APPLIED');

/** The startup check as a provider: an app module lists it and fails to start when it fails. */
export const repositoryAppliedCheck: Provider = {
  provide: REPOSITORY_APPLIED,
  inject: [ClickHouseService, APP_CONFIG, FEATURE_REPO],
  useFactory: async (clickhouse: ClickHouseService, config: AppConfig, repo: FeatureRepo) => {
    await assertRunningRepositoryApplied(clickhouse, config, repo);
    return true;
  },
};
