import type { Command } from 'commander';
import { quoteIdentifier, quoteString } from '../query-binder';

/**
 * Cluster DDL from the single-server migration files: a pure rewrite of each statement, so one set of
 * files serves both layouts. On a cluster, every `*MergeTree` table `t` becomes
 *   - `t_local` on every node: `Replicated*MergeTree('/clickhouse/tables/{shard}/<db>/t', '{replica}', <args>)`
 *     with the file's columns, partitioning and sorting key;
 *   - `t`: a `Distributed(<cluster>, <db>, t_local, <sharding key>)` table that inserts and reads go to,
 * so views (which name `t`) read every shard. CREATE / ALTER / DROP run `ON CLUSTER <cluster>`.
 * `{shard}` and `{replica}` are the servers' own macros. Column ALTERs change `t_local`, then recreate
 * `t` (a Distributed table needs the same columns); partition and mutation ALTERs only touch `t_local`.
 * ALTERs of `t_local` run ON CLUSTER `alterCluster` when set (one replica per shard).
 * Every ALTER TABLE in migrations/ is assumed to target a MergeTree-family table.
 */
export interface ClusterOptions {
  /** Cluster name from the servers' `remote_servers` configuration. */
  name: string;
  /** Sharding key expression per table; tables not listed here or in SHARDING_KEYS shard by `rand()`. */
  shardingKeys?: Readonly<Record<string, string>>;
  /**
   * A cluster with one replica of each shard, for ALTERs of the replicated `_local` tables: replication
   * carries them to the other replicas. Unset: `name`. See CLICKHOUSE_ALTER_CLUSTER in @mmctr/config.
   */
  alterCluster?: string;
}

/**
 * The cluster options the configuration names, or undefined on one server. An alter cluster without a
 * cluster is refused (the config schema refuses it too; the render CLIs take both as flags).
 */
export function clusterOptions(config: {
  CLICKHOUSE_CLUSTER?: string | undefined;
  CLICKHOUSE_ALTER_CLUSTER?: string | undefined;
}): ClusterOptions | undefined {
  if (!config.CLICKHOUSE_CLUSTER) {
    if (config.CLICKHOUSE_ALTER_CLUSTER)
      throw new Error(
        `alter cluster '${config.CLICKHOUSE_ALTER_CLUSTER}' needs a cluster (CLICKHOUSE_CLUSTER, --cluster)`,
      );
    return undefined;
  }
  return {
    name: config.CLICKHOUSE_CLUSTER,
    ...(config.CLICKHOUSE_ALTER_CLUSTER && { alterCluster: config.CLICKHOUSE_ALTER_CLUSTER }),
  };
}

/** What rendered DDL was rendered for, as the render CLIs print it beside the statements. */
export function renderTarget(database: string, cluster: ClusterOptions | undefined) {
  return { database, cluster: cluster?.name ?? null, alter_cluster: cluster?.alterCluster ?? null };
}

/** The target flags the render CLIs share, as commander parses them. */
export interface RenderTargetFlags {
  database: string;
  cluster?: string;
  alterCluster?: string;
}

/** Adds the render CLIs' `--database`, `--cluster` and `--alter-cluster` flags to `command`. */
export function withRenderTargetOptions(command: Command): Command {
  return command
    .requiredOption('--database <name>', 'target database')
    .option('--cluster <name>', 'render as cluster DDL for this remote_servers cluster')
    .option('--alter-cluster <name>', 'with --cluster: one replica per shard, for replicated ALTERs');
}

/** The database and cluster options the render flags name; refuses `--alter-cluster` without `--cluster`. */
export function renderTargetFrom(flags: RenderTargetFlags): {
  database: string;
  cluster: ClusterOptions | undefined;
} {
  return {
    database: flags.database,
    cluster: clusterOptions({
      CLICKHOUSE_CLUSTER: flags.cluster,
      CLICKHOUSE_ALTER_CLUSTER: flags.alterCluster,
    }),
  };
}

/** Where an ALTER of a replicated table runs: one replica per shard when the options name such a cluster. */
export function replicatedAlterCluster(cluster: ClusterOptions): string {
  return cluster.alterCluster ?? cluster.name;
}

export class ClusterDdlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterDdlError';
  }
}

/**
 * Rows that FINAL or argMax must see together share a shard: a user's events and score log (their
 * de-duplication and history), an item's versions and vectors, a model's status rows.
 */
export const SHARDING_KEYS: Readonly<Record<string, string>> = {
  events: 'cityHash64(user_id)',
  score_log: 'cityHash64(user_id)',
  items: 'cityHash64(item_id)',
  item_embeddings: 'cityHash64(item_id)',
  entity_embeddings: 'cityHash64(entity_key)',
  models: 'cityHash64(version)',
};

export const LOCAL_SUFFIX = '_local';
const MARKER = '{{database}}';
const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MERGE_TREE = /^(Replacing|Summing|Aggregating|Collapsing|VersionedCollapsing|Graphite)?MergeTree$/;
const COLUMN_ALTER = /^(ADD|MODIFY|DROP|CLEAR|COMMENT|RENAME)\s+COLUMN\b/i;
// `<verb> [IF [NOT] EXISTS] {{database}}.<name>`: the object a statement creates, alters or drops.
const TARGET = (verb: string) =>
  new RegExp(
    `^(${verb})\\s+(IF\\s+(?:NOT\\s+)?EXISTS\\s+)?\\{\\{database\\}\\}\\.([A-Za-z_][A-Za-z0-9_]*)`,
    'i',
  );

function assertClusterNames(cluster: ClusterOptions): void {
  for (const name of [cluster.name, cluster.alterCluster]) {
    if (name !== undefined && !PLAIN_NAME.test(name))
      throw new ClusterDdlError(`cluster name '${name}' must be a plain identifier`);
  }
}

/** Index just past the parenthesis that closes the one at `open`, skipping quoted text. */
function closingParen(sql: string, open: number): number {
  let depth = 0;
  for (let i = open; i < sql.length; i++) {
    const ch = sql[i]!;
    if (ch === "'" || ch === '"' || ch === '`') {
      i++;
      while (i < sql.length && sql[i] !== ch) i += sql[i] === '\\' ? 2 : 1;
    } else if (ch === '(') depth++;
    else if (ch === ')' && --depth === 0) return i + 1;
  }
  throw new ClusterDdlError(`unbalanced parentheses in: ${sql.slice(0, 120)}`);
}

function shardingKey(table: string, cluster: ClusterOptions): string {
  return cluster.shardingKeys?.[table] ?? SHARDING_KEYS[table] ?? 'rand()';
}

function createTable(
  statement: string,
  m: RegExpExecArray,
  database: string,
  cluster: ClusterOptions,
): string[] {
  const [head, , , table] = m as unknown as [string, string, string | undefined, string];
  const onCluster = ` ON CLUSTER ${cluster.name}`;
  let at = head.length;
  while (/\s/.test(statement[at] ?? '')) at++;
  if (statement[at] !== '(') return [head + onCluster + statement.slice(head.length)]; // AS other / AS SELECT
  const columnsEnd = closingParen(statement, at);
  const engine = /^\s*ENGINE\s*=\s*([A-Za-z]+)/i.exec(statement.slice(columnsEnd));
  if (!engine || !MERGE_TREE.test(engine[1]!)) return [head + onCluster + statement.slice(head.length)];

  const engineEnd = columnsEnd + engine[0].length;
  let args = '';
  let tailStart = engineEnd;
  if (statement[engineEnd] === '(') {
    tailStart = closingParen(statement, engineEnd);
    args = statement.slice(engineEnd + 1, tailStart - 1).trim();
  }
  const path = quoteString(`/clickhouse/tables/{shard}/${database}/${table}`);
  const replicated =
    `ENGINE = Replicated${engine[1]}(${path}, '{replica}'${args ? `, ${args}` : ''})` +
    statement.slice(tailStart);
  const local = `${head}${LOCAL_SUFFIX}${onCluster}${statement.slice(head.length, columnsEnd)}\n${replicated}`;
  return [local, distributedTable(table, Boolean(m[2]), database, cluster)];
}

/** The Distributed table `table` over `<table>_local`, with the same columns. */
function distributedTable(
  table: string,
  ifNotExists: boolean,
  database: string,
  cluster: ClusterOptions,
): string {
  return (
    `CREATE TABLE ${ifNotExists ? 'IF NOT EXISTS ' : ''}${MARKER}.${table} ON CLUSTER ${cluster.name} ` +
    `AS ${MARKER}.${table}${LOCAL_SUFFIX}\n` +
    `ENGINE = Distributed(${cluster.name}, ${quoteString(database)}, ${quoteString(table + LOCAL_SUFFIX)}, ` +
    `${shardingKey(table, cluster)})`
  );
}

function alterTable(
  statement: string,
  m: RegExpExecArray,
  database: string,
  cluster: ClusterOptions,
): string[] {
  const table = m[3]!;
  const action = statement.slice(m[0].length).trim();
  const local = `ALTER TABLE ${MARKER}.${table}${LOCAL_SUFFIX} ON CLUSTER ${replicatedAlterCluster(cluster)} ${action}`;
  if (!COLUMN_ALTER.test(action)) return [local];
  // ClickHouse runs an ALTER ON CLUSTER once per shard when the cluster replicates internally, and
  // refuses it for a table that is not replicated; a Distributed table holds no rows, so it is
  // recreated with the shards' new columns instead.
  return [
    local,
    `DROP TABLE IF EXISTS ${MARKER}.${table} ON CLUSTER ${cluster.name}`,
    distributedTable(table, false, database, cluster),
  ];
}

function dropTable(statement: string, m: RegExpExecArray, cluster: ClusterOptions): string[] {
  const table = m[3]!;
  const rest = statement.slice(m[0].length);
  const onCluster = ` ON CLUSTER ${cluster.name}`;
  // The Distributed table first (nothing routes to the shards any more), then the shards' tables.
  return [
    `${m[0]}${onCluster}${rest}`,
    `DROP TABLE IF EXISTS ${MARKER}.${table}${LOCAL_SUFFIX}${onCluster}${rest}`,
  ];
}

/**
 * One migration statement (database still as the `{{database}}` marker) as the statements to run on
 * the cluster `cluster.name`, in order. `database` is the unquoted target database name.
 */
export function clusterStatements(statement: string, database: string, cluster: ClusterOptions): string[] {
  assertClusterNames(cluster);
  const sql = statement.trim();
  let m: RegExpExecArray | null;
  if ((m = TARGET('CREATE\\s+TABLE').exec(sql))) return createTable(sql, m, database, cluster);
  if ((m = TARGET('CREATE\\s+(?:MATERIALIZED\\s+)?VIEW').exec(sql))) {
    return [`${m[0]} ON CLUSTER ${cluster.name}${sql.slice(m[0].length)}`];
  }
  if ((m = TARGET('ALTER\\s+TABLE').exec(sql))) return alterTable(sql, m, database, cluster);
  if ((m = TARGET('DROP\\s+TABLE').exec(sql))) return dropTable(sql, m, cluster);
  if ((m = TARGET('DROP\\s+VIEW').exec(sql)))
    return [`${m[0]} ON CLUSTER ${cluster.name}${sql.slice(m[0].length)}`];
  if (/^(CREATE|ALTER|DROP|RENAME|TRUNCATE|OPTIMIZE|ATTACH|DETACH)\b/i.test(sql)) {
    throw new ClusterDdlError(
      `cannot render for a cluster (write it as <verb> ${MARKER}.<name> ...): ${sql.slice(0, 120)}`,
    );
  }
  return [sql]; // INSERT / SELECT go through the Distributed tables unchanged
}

/**
 * The database and the migration ledger on every node. The ledger replicates under one path for the
 * whole cluster (no `{shard}`), so whichever node the runner reaches sees every applied version; the
 * servers' `{replica}` macro must then be unique across the cluster (the host name usually is).
 */
export function clusterLedgerDdl(database: string, cluster: ClusterOptions): string[] {
  assertClusterNames(cluster);
  const db = quoteIdentifier(database);
  const path = quoteString(`/clickhouse/tables/global/${database}/schema_migrations`);
  return [
    `CREATE DATABASE IF NOT EXISTS ${db} ON CLUSTER ${cluster.name}`,
    `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations ON CLUSTER ${cluster.name} ` +
      `(version UInt32, name String, checksum String, applied_at DateTime) ` +
      `ENGINE = ReplicatedMergeTree(${path}, '{replica}') ORDER BY version`,
  ];
}
