import { Command } from 'commander';
import { loadConfig } from '@mmctr/config';
import { clickHouseClient } from '../clickhouse.module';
import { clusterOptions } from './cluster-ddl';
import { MIGRATIONS_DIR, MigrationRunner, loadMigrations } from './migration-runner';
import { runCli } from './run-cli';

export async function runMigrations(argv: string[]): Promise<void> {
  const program = new Command('migrate')
    .description('Apply ClickHouse migrations from migrations/ (idempotent)')
    .option('--dir <path>', 'migrations folder', MIGRATIONS_DIR)
    .option('--database <name>', 'target database (default: CLICKHOUSE_DATABASE)')
    .option('--status', 'list applied migrations and exit')
    .parse(argv, { from: 'user' });
  const opts = program.opts<{ dir: string; database?: string; status?: boolean }>();
  const config = loadConfig();
  const admin = clickHouseClient(config);
  const database = opts.database ?? config.CLICKHOUSE_DATABASE;
  const cluster = clusterOptions(config);
  const runner = new MigrationRunner(
    admin,
    database,
    loadMigrations(opts.dir),
    (l) => console.log(l),
    cluster,
  );
  try {
    if (opts.status) {
      for (const m of await runner.applied()) console.log(`${m.version}\t${m.name}\t${m.checksum}`);
      return;
    }
    const result = await runner.migrate();
    console.log(
      result.applied.length === 0
        ? `database ${database}: up to date (${result.alreadyApplied} migrations applied earlier)`
        : `database ${database}: applied ${result.applied.length} migration(s)`,
    );
  } finally {
    await admin.close();
  }
}

if (require.main === module) runCli('migrate', () => runMigrations(process.argv.slice(2)));
