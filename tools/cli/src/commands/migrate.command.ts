import type { Command } from 'commander';
import { runMigrations } from '@mmctr/clickhouse/src/migrations/migrate.cli';

export function register(program: Command): void {
  program
    .command('migrate')
    .description('apply ClickHouse migrations (same as npm run migrate)')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[args...]')
    .action(async (args: string[]) => runMigrations(args));
}
