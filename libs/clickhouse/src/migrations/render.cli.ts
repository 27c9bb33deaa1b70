import { Command } from 'commander';
import {
  type RenderTargetFlags,
  renderTarget,
  renderTargetFrom,
  withRenderTargetOptions,
} from './cluster-ddl';
import { MIGRATIONS_DIR, loadMigrations, renderMigration } from './migration-runner';
import { runCli } from './run-cli';

/**
 * Prints, as JSON, the statements the migration runner would send for every migration file, in order:
 * `{ database, cluster, alter_cluster, migrations: [{ version, name, statements }] }`. Reads no server: the trainer's
 * modern-ClickHouse test (chdb) applies exactly these, and operators can review cluster DDL with it.
 */
export function renderMigrations(argv: string[]): string {
  const program = withRenderTargetOptions(
    new Command('render-migrations').option('--dir <path>', 'migrations folder', MIGRATIONS_DIR),
  ).parse(argv, { from: 'user' });
  const opts = program.opts<RenderTargetFlags & { dir: string }>();
  const { database, cluster } = renderTargetFrom(opts);
  const migrations = loadMigrations(opts.dir).map((m) => ({
    version: m.version,
    name: m.name,
    statements: renderMigration(m, database, cluster),
  }));
  return JSON.stringify({ ...renderTarget(database, cluster), migrations }, null, 2);
}

if (require.main === module) runCli('render-migrations', () => renderMigrations(process.argv.slice(2)));
