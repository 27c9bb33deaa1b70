import type { FeatureRepo } from '../types';
import type { TableColumn } from '../storage/table-columns';
import { findEntity } from './entity-contract';
import { enumValues } from '@mmctr/clickhouse';
import { compileRowEncoder, type ComputedColumn, type RowEncoder } from './row-encoder';

const epochSeconds = (ms: number): number => Math.floor(ms / 1000);

/** The table behaviour events go to. */
export const eventsTable = (repo: FeatureRepo): string => repo.events_table ?? 'events';

/** Where a table was read from, for the startup error that tells to apply the repository. */
export interface TableSource {
  readonly database: string;
  readonly table: string;
  readonly columns: readonly TableColumn[];
}

function requireColumns(repo: FeatureRepo, src: TableSource, wanted: ReadonlyMap<string, string>): void {
  const have = new Set(src.columns.map((c) => c.name));
  const missing = [...wanted].filter(([name]) => !have.has(name));
  if (missing.length === 0) return;
  const what =
    src.columns.length === 0
      ? 'does not exist'
      : `has no column ${missing.map(([c, why]) => `'${c}' (${why})`).join(', ')}`;
  throw new Error(
    `feature repository ${repo.name} ${repo.version}: table ${src.database}.${src.table} ${what}: run \`mmctr features apply\` with this repository`,
  );
}

/** Computed core columns: the DateTime twin of ts_ms and the insert time. */
function timeColumns(timeColumn: string): Record<string, ComputedColumn> {
  return {
    [timeColumn]: (r) => epochSeconds(r.ts_ms as number),
    ingested_at: (_r, nowS) => nowS,
  };
}

/**
 * The encoder of the events table: one row per normalised event, every column of the table. Fails
 * (naming table and column) when a declared attribute or event type has no column or Enum8 value.
 */
export function compileEventsEncoder(repo: FeatureRepo, src: TableSource): RowEncoder {
  const wanted = new Map<string, string>();
  for (const c of ['event_id', 'type', 'ts_ms', 'event_time', 'schema_version', 'ingested_at'])
    wanted.set(c, 'core column');
  for (const t of repo.event_types) {
    for (const e of t.entities) wanted.set(findEntity(repo, e).key, `key of entity '${e}'`);
    for (const a of t.attributes ?? [])
      if (!wanted.has(a.name)) wanted.set(a.name, `attribute of event type '${t.name}'`);
  }
  requireColumns(repo, src, wanted);
  const typeColumn = src.columns.find((c) => c.name === 'type')!;
  const codes = enumValues(typeColumn.type);
  const absent = repo.event_types.filter((t) => !codes.has(t.name)).map((t) => t.name);
  if (absent.length > 0)
    throw new Error(
      `feature repository ${repo.name} ${repo.version}: column ${src.database}.${src.table}.type (${typeColumn.type}) lacks event type ${absent.join(', ')}: run \`mmctr features apply\` with this repository`,
    );
  return compileRowEncoder(src.table, src.columns, timeColumns('event_time'));
}

/**
 * The encoder of a snapshot entity's table: key, ts_ms, updated_at, attributes, schema_version,
 * ingested_at; `extra` computes columns the repository does not declare (the demo items' content_hash).
 */
export function compileEntityEncoder(
  repo: FeatureRepo,
  entityName: string,
  src: TableSource,
  extra: Readonly<Record<string, ComputedColumn>> = {},
): RowEncoder {
  const entity = findEntity(repo, entityName);
  const wanted = new Map<string, string>([[entity.key, 'entity key']]);
  for (const c of ['ts_ms', 'updated_at', 'schema_version', 'ingested_at']) wanted.set(c, 'core column');
  for (const a of entity.attributes ?? []) wanted.set(a.name, `attribute of entity '${entity.name}'`);
  requireColumns(repo, src, wanted);
  return compileRowEncoder(src.table, src.columns, { ...timeColumns('updated_at'), ...extra });
}
