// Integration and e2e suites run against the real stack (deploy/local/up). This checks that it
// answers, applies the migrations and the running feature repository (FEATURE_REPO, the demo's by default)
// and creates the topics, so each test starts from a known schema.
import './load-stack-env.js';
import { loadConfig } from '@mmctr/config';
import { MigrationRunner, clickHouseClient, loadMigrations, MIGRATIONS_DIR } from '@mmctr/clickhouse';
import { FeatureStoreRepository, applyRepository, featureRepoFromConfig } from '@mmctr/feature-repo';
import { createKafka, ensureTopics, platformTopics } from '@mmctr/kafka';
import { createRedis, redisHealth } from '@mmctr/online-store';

export default async function globalSetup(): Promise<void> {
  const config = loadConfig();
  const admin = clickHouseClient(config);
  try {
    const health = await admin.health();
    if (!health.ok)
      throw new Error(
        `ClickHouse at ${config.CLICKHOUSE_URL} does not answer (${health.error}); run deploy/local/up`,
      );
    await new MigrationRunner(admin, config.CLICKHOUSE_DATABASE, loadMigrations(MIGRATIONS_DIR)).migrate();
    const store = new FeatureStoreRepository(admin, config.CLICKHOUSE_DATABASE);
    // The test database outlives repository edits: a changed repository replaces the one recorded.
    const applied = await applyRepository(store, featureRepoFromConfig(config), { allowBreaking: true });
    if (applied.status === 'refused') {
      throw new Error(`feature repository not applied to the test database: ${applied.reasons.join('; ')}`);
    }
  } finally {
    await admin.close();
  }
  const redis = createRedis(config);
  try {
    const r = await redisHealth(redis);
    if (!r.ok)
      throw new Error(`Redis at ${config.REDIS_URL} does not answer (${r.error}); run deploy/local/up`);
  } finally {
    redis.disconnect();
  }
  await ensureTopics(createKafka(config), platformTopics(config));
}
