import { bindQuery, type ClickHouseService, type HealthStatus, type QueryParams } from '@mmctr/clickhouse';
import { AnalyticsRepository } from '../../../apps/dashboard/src/analytics.repository';
import { EmbeddingRepository } from '../../../apps/embedder/src/storage/embedding.repository';
import { DEFAULT_FEATURE_REPO_PATH, loadFeatureRepo } from '@mmctr/feature-repo';
import { ItemCatalogRepository } from '../../../apps/scorer/src/items/item-catalog.repository';
import { ServingLayout } from '../../../apps/scorer/src/layout/serving-layout';
import { ModelRegistryRepository } from '../../../apps/scorer/src/model/model-registry.repository';
import { ScoredItemsRepository } from '../../../apps/scorer/src/aggregates/scored-items.repository';
import { AnalyticsRepository as FinalizerRepository } from '../../cli/src/analytics.repository';
import { RetentionRepository } from '../../cli/src/retention.repository';

/** The database name the retention reads are captured with; the test puts its own in its place. */
export const DATABASE_PLACEHOLDER = 'mmctr_compat_database';
/** 2026-01-01 12:00:00 UTC: the fixtures' `T` in apps/trainer/tests/test_modern_clickhouse.py. */
const T_NOON_S = 1_767_268_800;

/**
 * Prints, as JSON, every ClickHouse read the TypeScript repositories send, bound exactly as
 * ClickHouseService binds it: `[{ call, sql }]`. Each repository runs against a client that records
 * the SQL instead of sending it, so the text is the repositories' own, with the arguments below (which
 * match the trainer's modern-ClickHouse fixture, apps/trainer/tests/test_modern_clickhouse.py).
 */
interface Captured {
  call: string;
  sql: string;
}

function recordingClient(out: Captured[], call: () => string): ClickHouseService {
  const client = {
    database: undefined,
    async query(sql: string, params?: QueryParams): Promise<unknown[]> {
      out.push({ call: call(), sql: bindQuery(sql, params) });
      return [];
    },
    // The same SELECT as the server answers in RowBinary: the test reads its answer as JSON.
    async queryRowBinary(sql: string, params?: QueryParams): Promise<Buffer> {
      out.push({ call: call(), sql: bindQuery(sql, params) });
      return Buffer.alloc(0);
    },
    async health(): Promise<HealthStatus> {
      return { ok: true };
    },
  };
  return client as unknown as ClickHouseService;
}

export async function repositoryQueries(): Promise<Captured[]> {
  const out: Captured[] = [];
  let current = '';
  const ch = recordingClient(out, () => current);
  const run = async (call: string, fn: () => Promise<unknown>) => {
    current = call;
    try {
      await fn();
    } catch (err) {
      // Only the SQL matters here: a repository may refuse the recording client's empty answer.
      if (!out.some((c) => c.call === call)) throw err;
    }
  };
  const analytics = new AnalyticsRepository(ch);
  const embeddings = new EmbeddingRepository(ch);
  const catalog = new ItemCatalogRepository(
    ch,
    new ServingLayout(loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH)),
  );
  const registry = new ModelRegistryRepository(ch);
  const encoders = { image: 'img-enc', text: 'txt-enc' };

  await run('analytics.ctrOverTime', () => analytics.ctrOverTime());
  await run('analytics.calibration', () => analytics.calibration());
  await run('analytics.models', () => analytics.models());
  await run('analytics.ingestThroughput', () => analytics.ingestThroughput());
  await run('embeddings.catalogue', () => embeddings.catalogue());
  await run('embeddings.catalogue(i1)', () => embeddings.catalogue('i1'));
  await run('embeddings.embeddedKeys', () => embeddings.embeddedKeys(encoders, 'p1'));
  await run('embeddings.currentVectors', () => embeddings.currentVectors(encoders));
  await run('embeddings.currentVectors(i1)', () => embeddings.currentVectors(encoders, ['i1']));
  await run('catalog.itemsIngested', () => catalog.itemsIngested(0, T_NOON_S));
  await run("catalog.itemsIngested(i1's new version)", () => catalog.itemsIngested(T_NOON_S - 1, T_NOON_S));
  await run('catalog.itemsIngested(before it)', () => catalog.itemsIngested(0, T_NOON_S - 2));
  await run('catalog.vectorsCreated', () => catalog.vectorsCreated(10, 15, 'p1'));
  await run('catalog.itemBuckets', () => catalog.itemBuckets(1));
  await run('catalog.itemBuckets(before)', () => catalog.itemBuckets(1, T_NOON_S - 1));
  await run('catalog.vectorBuckets(before)', () => catalog.vectorBuckets(10, 'p1', 20));
  await run('catalog.itemPage', () => catalog.itemPage('', 0, 100));
  await run('catalog.itemPage(limit 1)', () => catalog.itemPage('', 0, 1));
  await run('catalog.items', () => catalog.items('', 'i2', 0));
  await run('catalog.items(after i1)', () => catalog.items('i1', 'i2', 0));
  await run('catalog.itemPage(until)', () => catalog.itemPage('', 0, 100, T_NOON_S - 1));
  await run('catalog.items(until)', () => catalog.items('', 'i2', T_NOON_S - 1, T_NOON_S));
  await run('catalog.vectorPage', () => catalog.vectorPage('', 0, 'p1', 100));
  await run('catalog.vectorPage(since 15)', () => catalog.vectorPage('', 15, 'p1', 100));
  await run('catalog.vectors', () => catalog.vectors('', 'i2', 0, 'p1'));
  await run('catalog.vectors(any projection)', () => catalog.vectors('', 'i2', 0, ''));
  await run('catalog.vectorPage(until 15)', () => catalog.vectorPage('', 0, 'p1', 100, 15));
  await run('catalog.vectors(until 15)', () => catalog.vectors('', 'i2', 0, 'p1', 15));
  await run('registry.newest(production)', () => registry.newest('production'));
  await run('registry.productionVersions', () => registry.productionVersions(5));
  const scored = new ScoredItemsRepository(ch);
  await run('scored.mostScored', () => scored.mostScored(T_NOON_S - 3_600, 10, 5_000));
  const retention = new RetentionRepository(ch, DATABASE_PLACEHOLDER);
  await run('retention.partitions(events)', () => retention.partitions('events'));
  await run('retention.dropped', () => retention.dropped());
  const finalizer = new FinalizerRepository(ch);
  await run('finalizer.frozenBeforeS', () => finalizer.frozenBeforeS());
  await run('finalizer.frozenBeforeAfterDropS', () => finalizer.frozenBeforeAfterDropS(T_NOON_S));
  return out;
}

if (require.main === module) {
  repositoryQueries().then(
    (q) => console.log(JSON.stringify(q, null, 2)),
    (err: Error) => {
      console.error(`repository-queries: ${err.message}`);
      process.exit(1);
    },
  );
}
