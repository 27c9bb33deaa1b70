import type { ClickHouseService } from '@mmctr/clickhouse';
import type { AppConfig } from '@mmctr/config';
import { FeatureStoreRepository, applyRepository, featureRepoFromConfig } from '@mmctr/feature-repo';

/**
 * Applies the feature repository `config` runs (FEATURE_REPO, the demo's by default) to a migrated
 * test database, as `mmctr features apply` does: ingest and the scorer refuse a database without it.
 */
export async function applyRunningRepo(
  admin: ClickHouseService,
  database: string,
  config: Pick<AppConfig, 'FEATURE_REPO'>,
): Promise<void> {
  const result = await applyRepository(
    new FeatureStoreRepository(admin, database),
    featureRepoFromConfig(config),
  );
  if (result.status === 'refused')
    throw new Error(`feature repository not applied to ${database}: ${result.reasons.join('; ')}`);
}
