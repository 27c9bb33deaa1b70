import { FeatureRepoError } from '../load';
import type { Attribute, AttributeType, FeatureRepo } from '../types';
import { CH_TYPE, ZERO, chLiteral, chString } from './column-types';

/**
 * What a column's existing type is checked against: an attribute (or entity key) accepts the types
 * `columnAccepts` lists, a core column must have exactly its type, and the event type column must be an
 * Enum8 (its values are extended, never renumbered).
 */
export type ColumnRole =
  { kind: 'attribute'; type: AttributeType } | { kind: 'core' } | { kind: 'event_type' };

export interface StorageColumn {
  readonly name: string;
  /** The type a new column is created with. */
  readonly type: string;
  /** Default expression (attributes only): what rows written before the column existed read. */
  readonly default?: string;
  readonly role: ColumnRole;
  /** Where the repository declares it, for messages. */
  readonly origin: string;
}

export interface StorageTable {
  readonly name: string;
  readonly columns: readonly StorageColumn[];
  readonly orderBy: readonly string[];
  readonly partitionBy?: string;
  /** Sharding key on a cluster: rows that FINAL must see together share a shard. */
  readonly shardingKey: string;
}

const core = (name: string, type: string): StorageColumn => ({
  name,
  type,
  role: { kind: 'core' },
  origin: 'core column',
});

const keyColumn = (name: string, origin: string): StorageColumn => ({
  name,
  type: 'String',
  role: { kind: 'attribute', type: 'string' },
  origin,
});

export const attributeColumn = (a: Attribute, origin: string): StorageColumn => ({
  name: a.name,
  type: CH_TYPE[a.type],
  default: chLiteral(a.type, a.default ?? ZERO[a.type]),
  role: { kind: 'attribute', type: a.type },
  origin,
});

/** `Enum8('a' = 1, ...)` of `[name, number]` pairs. */
export function enum8(values: readonly (readonly [string, number])[]): string {
  return `Enum8(${values.map(([n, i]) => `${chString(n)} = ${i}`).join(', ')})`;
}

/** Collects a table's columns; a name declared twice must agree on its type, else both places are named. */
class Columns {
  readonly list: StorageColumn[] = [];
  private readonly byName = new Map<string, StorageColumn>();

  constructor(
    private readonly table: string,
    private readonly errors: string[],
  ) {}

  add(c: StorageColumn): void {
    const seen = this.byName.get(c.name);
    if (!seen) {
      this.byName.set(c.name, c);
      this.list.push(c);
    } else if (seen.role.kind !== 'attribute' || c.role.kind !== 'attribute' || seen.type !== c.type) {
      this.errors.push(
        `${this.table}.${c.name}: ${c.origin} (${c.type}) clashes with ${seen.origin} (${seen.type}) in one column`,
      );
    }
  }
}

function eventsTable(repo: FeatureRepo, errors: string[]): StorageTable {
  const name = repo.events_table ?? 'events';
  const keyOf = new Map(repo.entities.map((e) => [e.name, e.key]));
  if (repo.event_types.length > 127)
    errors.push(`event_types: ${repo.event_types.length} types exceed Enum8 (127)`);
  const cols = new Columns(name, errors);
  cols.add(core('event_id', 'String'));
  cols.add({
    name: 'type',
    type: enum8(repo.event_types.map((t, i) => [t.name, i + 1])),
    role: { kind: 'event_type' },
    origin: 'core column',
  });
  cols.add(core('ts_ms', 'UInt64'));
  cols.add(core('event_time', 'DateTime'));
  for (const t of repo.event_types) {
    for (const en of t.entities) cols.add(keyColumn(keyOf.get(en) ?? en, `entities.${en}.key`));
  }
  for (const t of repo.event_types) {
    for (const a of t.attributes ?? [])
      cols.add(attributeColumn(a, `event_types.${t.name}.attributes.${a.name}`));
  }
  cols.add(core('schema_version', 'UInt8'));
  cols.add(core('ingested_at', 'DateTime'));
  // Like migrations/0001_events.sql: a user's events sorted by time, so the anchor's first entity leads.
  const anchor = repo.event_types.find((t) => t.name === repo.label.anchor) ?? repo.event_types[0];
  const lead = keyOf.get(anchor?.entities[0] ?? '') ?? 'event_id';
  return {
    name,
    columns: cols.list,
    orderBy: lead === 'event_id' ? ['ts_ms', 'event_id'] : [lead, 'ts_ms', 'event_id'],
    partitionBy: 'toYYYYMMDD(event_time)',
    shardingKey: `cityHash64(${lead})`,
  };
}

/**
 * The tables a repository stores into, with the columns each must have (repo order): the events table
 * and one snapshot table per entity that names a `table` (like migrations/0001 and 0002). Throws a
 * FeatureRepoError naming every column two declarations claim with different types.
 */
export function storageTables(repo: FeatureRepo): StorageTable[] {
  const errors: string[] = [];
  const tables = [eventsTable(repo, errors)];
  for (const e of repo.entities) {
    if (e.table === undefined) continue;
    const cols = new Columns(e.table, errors);
    cols.add(keyColumn(e.key, `entities.${e.name}.key`));
    cols.add(core('ts_ms', 'UInt64'));
    cols.add(core('updated_at', 'DateTime'));
    for (const a of e.attributes ?? [])
      cols.add(attributeColumn(a, `entities.${e.name}.attributes.${a.name}`));
    cols.add(core('schema_version', 'UInt8'));
    cols.add(core('ingested_at', 'DateTime'));
    tables.push({
      name: e.table,
      columns: cols.list,
      orderBy: [e.key, 'ts_ms'],
      shardingKey: `cityHash64(${e.key})`,
    });
  }
  const names = new Set<string>();
  for (const t of tables) {
    if (names.has(t.name)) errors.push(`${t.name}: two tables of the repository share this name`);
    names.add(t.name);
  }
  if (errors.length > 0) throw new FeatureRepoError(`${repo.name} ${repo.version} storage`, errors);
  return tables;
}
