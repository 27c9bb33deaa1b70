import { Command } from 'commander';
import { clusterOptions, renderTarget } from './cluster-ddl';
import { MIGRATIONS_DIR, loadMigrations, renderMigration } from './migration-runner';
import { runCli } from './run-cli';

/**
 * Prints, as JSON, the statements the migration runner would send for every migration file, in order:
 * `{ database, cluster, alter_cluster, migrations: [{ version, name, statements }] }`. Reads no server: the trainer's
 * modern-ClickHouse test (chdb) applies exactly these, and operators can review cluster DDL with it.
 */
export function renderMigrations(argv: string[]): string {
  const program = new Command('render-migrations')
    .option('--dir <path>', 'migrations folder', MIGRATIONS_DIR)
    .requiredOption('--database <name>', 'target database')
    .option('--cluster <name>', 'render as cluster DDL for this remote_servers cluster')
    .option('--alter-cluster <name>', 'with --cluster: one replica per shard, for replicated ALTERs')
    .parse(argv, { from: 'user' });
  const opts = program.opts<{ dir: string; database: string; cluster?: string; alterCluster?: string }>();
  const cluster = clusterOptions({
    CLICKHOUSE_CLUSTER: opts.cluster,
    CLICKHOUSE_ALTER_CLUSTER: opts.alterCluster,
  });
  const migrations = loadMigrations(opts.dir).map((m) => ({
    version: m.version,
    name: m.name,
    statements: renderMigration(m, opts.database, cluster),
  }));
  return JSON.stringify({ ...renderTarget(opts.database, cluster), migrations }, null, 2);
}

if (require.main === module) runCli('render-migrations', () => renderMigrations(process.argv.slice(2)));
