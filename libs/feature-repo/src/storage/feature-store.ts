import type { ClusterOptions } from '@mmctr/clickhouse';
import type { FeatureRepo } from '../types';
import type { TableColumn } from './table-columns';

/** The ledger table (migrations/0014_feature_repo_applied.sql). */
export const LEDGER_TABLE = 'feature_repo_applied';

/** One ledger row: a repository version applied to the database. */
export interface AppliedVersion {
  name: string;
  version: string;
  applied_ms: number;
  /** The repository document as applied (JSON). */
  document: string;
}

/** A model in the registry that is not retired (models_current). */
export interface RegisteredModel {
  version: string;
  status: string;
  artifact_uri: string;
}

/** What planning and applying a repository read and write; FeatureStoreRepository is the ClickHouse one. */
export interface FeatureStore {
  readonly database: string;
  /** Columns of each table, [] for a table that does not exist. */
  tableColumns(tables: readonly string[]): Promise<Map<string, TableColumn[]>>;
  /** Every ledger row of repository `name`, oldest first (an error naming the fix when there is no ledger). */
  appliedVersions(name: string): Promise<AppliedVersion[]>;
  /** Runs one DDL statement. */
  run(statement: string): Promise<void>;
  /** Refuses an alter cluster that is not one replica of each shard of the cluster (see @mmctr/clickhouse). */
  assertAlterCluster(cluster: ClusterOptions): Promise<void>;
  /** Appends `repo` to the ledger. */
  record(repo: FeatureRepo): Promise<void>;
  registeredModels(): Promise<RegisteredModel[]>;
}
