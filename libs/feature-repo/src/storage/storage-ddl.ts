import { DATABASE_MARKER, quoteIdentifier } from '@mmctr/clickhouse';
import { clusterStatements, type ClusterOptions } from '@mmctr/clickhouse';
import type { FeatureRepo } from '../types';
import { columnAccepts } from './column-types';
import { enum8, storageTables, type StorageColumn, type StorageTable } from './storage-layout';
import type { TableColumn } from './table-columns';

/**
 * DDL that makes a database hold a repository's tables. `db` is the database as the statement names it
 * (a quoted name, or the migrations' `{{database}}` marker for cluster rendering). Statements run on
 * 18.16 and modern servers: CREATE TABLE IF NOT EXISTS, ADD COLUMN ... DEFAULT, MODIFY COLUMN Enum8.
 */
const columnDef = (c: StorageColumn): string =>
  `\`${c.name}\` ${c.type}${c.default === undefined ? '' : ` DEFAULT ${c.default}`}`;

export function createTableDdl(db: string, t: StorageTable): string {
  return [
    `CREATE TABLE IF NOT EXISTS ${db}.${t.name}`,
    '(',
    t.columns.map((c) => `    ${columnDef(c)}`).join(',\n'),
    ')',
    'ENGINE = ReplacingMergeTree',
    ...(t.partitionBy ? [`PARTITION BY ${t.partitionBy}`] : []),
    `ORDER BY (${t.orderBy.join(', ')})`,
  ].join('\n');
}

export function addColumnDdl(db: string, table: string, c: StorageColumn): string {
  return `ALTER TABLE ${db}.${table} ADD COLUMN ${columnDef(c)}`;
}

export function modifyColumnDdl(db: string, table: string, c: StorageColumn, type = c.type): string {
  return `ALTER TABLE ${db}.${table} MODIFY COLUMN ${columnDef({ ...c, type })}`;
}

export interface StorageDiff {
  /** Additive statements: new tables, new columns, new event type values. */
  ddl: string[];
  /** Statements that rewrite an attribute column whose type no longer fits its declaration. */
  retype: string[];
  /** One line per rewritten column (a breaking change: readers of the old type break). */
  breaking: string[];
  /** Columns no statement may fix (core columns): apply refuses while any exists. */
  incompatible: string[];
}

const ENUM8 = /^Enum8\((.*)\)$/;
const ENUM_VALUE = /'((?:[^'\\]|\\.)*)'\s*=\s*(-?\d+)/g;

/** The `[name, number]` pairs of an Enum8 type text, or undefined when it is not an Enum8. */
export function parseEnum8(type: string): [string, number][] | undefined {
  const body = ENUM8.exec(type)?.[1];
  if (body === undefined) return undefined;
  return [...body.matchAll(ENUM_VALUE)].map((m) => [m[1]!.replace(/\\(.)/g, '$1'), Number(m[2])]);
}

/** Event types the column lacks, numbered after its highest value; existing numbers never move. */
function extendedEnum(actual: [string, number][], wanted: readonly string[]): string | undefined {
  const have = new Set(actual.map(([n]) => n));
  const missing = wanted.filter((n) => !have.has(n));
  if (missing.length === 0) return undefined;
  const top = Math.max(0, ...actual.map(([, i]) => i));
  return enum8([...actual, ...missing.map((n, i) => [n, top + 1 + i] as [string, number])]);
}

function diffColumn(
  db: string,
  t: StorageTable,
  want: StorageColumn,
  actual: string | undefined,
  out: StorageDiff,
): void {
  const where = `table ${t.name}, column ${want.name}`;
  if (actual === undefined) {
    if (want.role.kind === 'attribute') out.ddl.push(addColumnDdl(db, t.name, want));
    else out.incompatible.push(`${where}: ${want.origin} ${want.type} is missing`);
    return;
  }
  switch (want.role.kind) {
    case 'core':
      if (actual !== want.type)
        out.incompatible.push(`${where}: ${want.origin} must be ${want.type}, actual ${actual}`);
      return;
    case 'event_type': {
      const values = parseEnum8(actual);
      if (!values) {
        out.incompatible.push(`${where}: event type column must be an Enum8, actual ${actual}`);
        return;
      }
      const wanted = (parseEnum8(want.type) ?? []).map(([n]) => n);
      const type = extendedEnum(values, wanted);
      if (type) out.ddl.push(modifyColumnDdl(db, t.name, want, type));
      return;
    }
    case 'attribute':
      if (columnAccepts(want.role.type, actual)) return;
      out.breaking.push(
        `${where}: declared ${want.role.type} (${want.origin}), actual ${actual}: rewritten as ${want.type}`,
      );
      out.retype.push(modifyColumnDdl(db, t.name, want));
  }
}

/**
 * What `tables` need given the database's `actual` columns (table name -> columns; a table absent or
 * without columns does not exist). Extra columns and tables are left alone.
 */
export function storageDiff(
  db: string,
  tables: readonly StorageTable[],
  actual: ReadonlyMap<string, readonly TableColumn[]>,
): StorageDiff {
  const out: StorageDiff = { ddl: [], retype: [], breaking: [], incompatible: [] };
  for (const t of tables) {
    const existing = actual.get(t.name) ?? [];
    if (existing.length === 0) {
      out.ddl.push(createTableDdl(db, t));
      continue;
    }
    const types = new Map(existing.map((c) => [c.name, c.type]));
    for (const c of t.columns) diffColumn(db, t, c, types.get(c.name), out);
  }
  // New event type values last: by the time a new type is accepted, its columns exist.
  const enumLast = (s: string): number => (/ MODIFY COLUMN `type` Enum8/.test(s) ? 1 : 0);
  out.ddl.sort((a, b) => enumLast(a) - enumLast(b));
  return out;
}

/** Statements written against DATABASE_MARKER, as they run on `database` (and its cluster). */
export function storageRenderer(
  repo: FeatureRepo,
  database: string,
  cluster?: ClusterOptions,
): (sql: string) => string[] {
  const db = quoteIdentifier(database);
  const shardingKeys = Object.fromEntries(storageTables(repo).map((t) => [t.name, t.shardingKey]));
  const options = cluster && { ...cluster, shardingKeys: { ...shardingKeys, ...cluster.shardingKeys } };
  return (sql) =>
    (options ? clusterStatements(sql, database, options) : [sql]).map((s) =>
      s.split(DATABASE_MARKER).join(db),
    );
}
