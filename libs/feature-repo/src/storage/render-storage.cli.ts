import { Command } from 'commander';
import {
  DATABASE_MARKER,
  type RenderTargetFlags,
  renderTarget,
  renderTargetFrom,
  runCli,
  withRenderTargetOptions,
} from '@mmctr/clickhouse';
import { loadFeatureRepo } from '../load';
import type { FeatureRepo } from '../types';
import { storageDiff, storageRenderer } from './storage-ddl';
import { storageTables, type StorageTable } from './storage-layout';
import type { TableColumn } from './table-columns';

/**
 * The repository one version earlier: without its last event type and without the last attribute of
 * each entity table, so that moving to the real one adds columns and an event type value.
 */
function earlier(repo: FeatureRepo): FeatureRepo {
  return {
    ...repo,
    event_types: repo.event_types.slice(0, -1),
    entities: repo.entities.map((e) =>
      e.table && e.attributes ? { ...e, attributes: e.attributes.slice(0, -1) } : e,
    ),
  };
}

const asColumns = (tables: readonly StorageTable[]): Map<string, TableColumn[]> =>
  new Map(tables.map((t) => [t.name, t.columns.map(({ name, type }) => ({ name, type }))]));

/**
 * Prints, as JSON, the storage DDL `mmctr features apply` sends for each repository, rendered for
 * `--database` (and `--cluster`, `--alter-cluster`, both echoed): `create` makes the earlier version's tables in an empty database,
 * `evolve` moves them to the repository (ADD COLUMN, MODIFY COLUMN type Enum8), `columns` is what each
 * table then holds (the events table first). Reads no server: the trainer's modern-ClickHouse test (chdb) runs exactly these.
 */
export function renderStorage(argv: string[]): string {
  const program = withRenderTargetOptions(new Command('render-storage'))
    .argument('<repos...>', 'repository files or folders')
    .parse(argv, { from: 'user' });
  const { database, cluster } = renderTargetFrom(program.opts<RenderTargetFlags>());
  const repos = program.args.map((path) => {
    const repo = loadFeatureRepo(path);
    const before = storageTables(earlier(repo));
    const after = storageTables(repo);
    const render = storageRenderer(repo, database, cluster);
    const fromScratch = storageDiff(DATABASE_MARKER, before, new Map());
    const evolve = storageDiff(DATABASE_MARKER, after, asColumns(before));
    return {
      name: repo.name,
      events_table: after[0]!.name,
      event_types: repo.event_types.map((t) => t.name),
      create: fromScratch.ddl.flatMap(render),
      evolve: evolve.ddl.flatMap(render),
      columns: Object.fromEntries([...asColumns(after)].map(([t, cols]) => [t, cols])),
    };
  });
  return JSON.stringify({ ...renderTarget(database, cluster), repos }, null, 2);
}

if (require.main === module) runCli('render-storage', () => renderStorage(process.argv.slice(2)));
