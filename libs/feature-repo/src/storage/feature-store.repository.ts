import {
  assertAlterCluster,
  clickHouseClient,
  quoteIdentifier,
  type ClickHouseService,
  type ClusterOptions,
} from '@mmctr/clickhouse';
import type { AppConfig } from '@mmctr/config';
import type { FeatureRepo } from '../types';
import { LEDGER_TABLE, type AppliedVersion, type FeatureStore, type RegisteredModel } from './feature-store';
import { readTableColumns, type TableColumn } from './table-columns';

/** The feature store's tables in one ClickHouse database: their columns, the ledger, the model registry. */
export class FeatureStoreRepository implements FeatureStore {
  private readonly db: string;

  constructor(
    private readonly clickhouse: ClickHouseService,
    readonly database: string,
  ) {
    this.db = quoteIdentifier(database);
  }

  /** A repository on its own connection (close it when done). */
  static fromConfig(config: AppConfig, database = config.CLICKHOUSE_DATABASE): FeatureStoreRepository {
    const clickhouse = clickHouseClient(config, { requestTimeoutMs: config.CLICKHOUSE_REQUEST_TIMEOUT_MS });
    return new FeatureStoreRepository(clickhouse, database);
  }

  async tableColumns(tables: readonly string[]): Promise<Map<string, TableColumn[]>> {
    const out = new Map<string, TableColumn[]>();
    for (const t of tables) out.set(t, await readTableColumns(this.clickhouse, this.database, t));
    return out;
  }

  async appliedVersions(name: string): Promise<AppliedVersion[]> {
    const ledger = await readTableColumns(this.clickhouse, this.database, LEDGER_TABLE);
    if (ledger.length === 0) {
      throw new Error(
        `database ${this.database} has no ${LEDGER_TABLE} table: run mmctr migrate (migration 0014) first`,
      );
    }
    const rows = await this.clickhouse.query<AppliedVersion>(
      `SELECT name, version, applied_ms, document FROM ${this.db}.${LEDGER_TABLE}
       WHERE name = {name:String} ORDER BY applied_ms`,
      { name },
    );
    return rows.map((r) => ({ ...r, applied_ms: Number(r.applied_ms) }));
  }

  async run(statement: string): Promise<void> {
    await this.clickhouse.command(statement);
  }

  async assertAlterCluster(cluster: ClusterOptions): Promise<void> {
    await assertAlterCluster(this.clickhouse, cluster);
  }

  async record(repo: FeatureRepo): Promise<void> {
    const now = Date.now();
    await this.clickhouse.insert(`${this.db}.${LEDGER_TABLE}`, [
      {
        name: repo.name,
        version: repo.version,
        applied_at: Math.floor(now / 1000),
        applied_ms: now,
        document: JSON.stringify(repo),
      },
    ]);
  }

  async registeredModels(): Promise<RegisteredModel[]> {
    return this.clickhouse.query<RegisteredModel>(
      `SELECT version, toString(status) AS status, artifact_uri FROM ${this.db}.models_current
       WHERE toString(status) != 'retired' ORDER BY version`,
    );
  }

  async close(): Promise<void> {
    await this.clickhouse.close();
  }
}
