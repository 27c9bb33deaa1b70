import {
  LOCAL_SUFFIX,
  clickHouseFromConfig,
  clusterOptions,
  quoteIdentifier,
  quoteString,
  assertAlterCluster,
  replicatedAlterCluster,
  type ClickHouseService,
  type ClusterOptions,
} from '@mmctr/clickhouse';
import type { AppConfig } from '@mmctr/config';

/** One active partition of a table, summed over its parts (and, on a cluster, over its shards). */
export interface PartitionInfo {
  partitionId: string;
  rows: number;
  bytes: number;
  /** Unix seconds of the newest event time the partition holds (the parts' max_time). */
  newestS: number;
}

/** A dropped partition as `retention_log` records it. */
export interface DroppedPartition extends PartitionInfo {
  table: string;
}

interface PartitionRow {
  partition_id: string;
  rows: string;
  bytes: string;
  newest: string;
}

/**
 * Reads and drops day partitions of the time-partitioned tables, and keeps `retention_log`
 * (migrations/0021_retention_log.sql). On one server a table's parts are its own; on a cluster
 * (`cluster` set) each table's data lives in `<table>_local` on every shard: parts are read through the
 * `cluster()` table function (one replica per shard) and partitions are dropped `ON CLUSTER`.
 */
export class RetentionRepository {
  /** `clickhouse`'s default database is `database` (the tables are named without it, but for DDL). */
  constructor(
    private readonly clickhouse: ClickHouseService,
    private readonly database: string,
    private readonly cluster?: ClusterOptions,
  ) {}

  private alterClusterChecked?: Promise<void>;

  static fromConfig(config: AppConfig): RetentionRepository {
    return new RetentionRepository(
      clickHouseFromConfig(config),
      config.CLICKHOUSE_DATABASE,
      clusterOptions(config),
    );
  }

  /** The server's clock, Unix seconds: partitions age by it, as their event times were stored by it. */
  async serverNowS(): Promise<number> {
    const [row] = await this.clickhouse.query<{ now: string }>('SELECT toUInt32(now()) AS now');
    return Number(row!.now);
  }

  /** The names of the database's tables (on a cluster, the Distributed tables and their `_local` twins). */
  async tables(): Promise<Set<string>> {
    const rows = await this.clickhouse.query<{ name: string }>(
      'SELECT name FROM system.tables WHERE database = {db:String}',
      { db: this.database },
    );
    return new Set(rows.map((r) => r.name));
  }

  /** Active partitions of `table`, oldest first. */
  async partitions(table: string): Promise<PartitionInfo[]> {
    const parts = this.cluster ? `cluster(${quoteString(this.cluster.name)}, system, parts)` : 'system.parts';
    const rows = await this.clickhouse.query<PartitionRow>(
      `SELECT partition_id, sum(rows) AS rows, sum(bytes_on_disk) AS bytes, toUInt32(max(max_time)) AS newest
       FROM ${parts}
       WHERE database = {db:String} AND table = {table:String} AND active
       GROUP BY partition_id ORDER BY newest, partition_id`,
      { db: this.database, table: this.dataTable(table) },
    );
    return rows.map((r) => ({
      partitionId: r.partition_id,
      rows: Number(r.rows),
      bytes: Number(r.bytes),
      newestS: Number(r.newest),
    }));
  }

  /**
   * Drops one partition of `table` (every replica of every shard on a cluster). It is recorded first: the
   * analytics finalizer freezes trimmed hours by the record, so a drop must never go unrecorded (a failed
   * drop recorded anyway only freezes hours early, and a rerun drops and records it again).
   */
  async drop(table: string, p: PartitionInfo): Promise<void> {
    if (this.cluster) await (this.alterClusterChecked ??= assertAlterCluster(this.clickhouse, this.cluster));
    await this.clickhouse.insert('retention_log', [
      {
        table_name: table,
        partition_id: p.partitionId,
        rows: p.rows,
        bytes_on_disk: p.bytes,
        newest_event_time: p.newestS,
        dropped_at: Math.floor(Date.now() / 1000),
      },
    ]);
    const target = `${quoteIdentifier(this.database)}.${quoteIdentifier(this.dataTable(table))}`;
    // One replica per shard drops it (replication drops it on the others) where an alter cluster is set.
    const onCluster = this.cluster
      ? ` ON CLUSTER ${quoteIdentifier(replicatedAlterCluster(this.cluster))}`
      : '';
    await this.clickhouse.command(
      `ALTER TABLE ${target}${onCluster} DROP PARTITION ID ${quoteString(p.partitionId)}`,
    );
  }

  /** Partitions dropped so far, by table, oldest first. */
  async dropped(): Promise<DroppedPartition[]> {
    const rows = await this.clickhouse.query<PartitionRow & { table_name: string }>(
      `SELECT table_name, partition_id, rows, bytes_on_disk AS bytes, toUInt32(newest_event_time) AS newest
       FROM retention_log ORDER BY table_name, newest, partition_id`,
    );
    return rows.map((r) => ({
      table: r.table_name,
      partitionId: r.partition_id,
      rows: Number(r.rows),
      bytes: Number(r.bytes),
      newestS: Number(r.newest),
    }));
  }

  async close(): Promise<void> {
    await this.clickhouse.close();
  }

  private dataTable(table: string): string {
    return this.cluster ? `${table}${LOCAL_SUFFIX}` : table;
  }
}
