import { ZERO } from './storage/column-types';
import { durationMs } from './aggregations';
import { TEXT_ENCODER_WIDTH, embeddingJobs, embeddingStore } from './embeddings';
import { addColumnDdl as storageAddColumnDdl, createTableDdl } from './storage/storage-ddl';
import { attributeColumn, enum8, storageTables } from './storage/storage-layout';
import type { Aggregation, Attribute, Duration, Feature, FeatureRepo } from './types';

/** What moving from one repository version to the next takes; breaking changes are listed, never planned. */
export interface RepoPlan {
  /** ClickHouse statements, valid on 18.16 and modern servers (no IF NOT EXISTS: 18.16 lacks it on ADD COLUMN). */
  ddl: string[];
  contract: string[];
  onlineStore: string[];
  features: string[];
  notes: string[];
  breaking: string[];
  /** Features removed or encoded differently: models trained on them break. */
  reencoded: string[];
}

export interface PlanOptions {
  /** Database the tables live in. */
  database: string;
}

export { chLiteral, chString } from './storage/column-types';

/** `ALTER TABLE <database>.<table> ADD COLUMN` for a new attribute; old rows read its default. */
export function addColumnDdl(database: string, table: string, a: Attribute): string {
  return storageAddColumnDdl(database, table, attributeColumn(a, a.name));
}

/** CREATE TABLE for an entity's snapshot table, as `to` lays it out. */
function entityTableDdl(database: string, to: FeatureRepo, table: string): string {
  const t = storageTables(to).find((x) => x.name === table);
  if (!t) throw new Error(`no storage layout for table '${table}'`);
  return createTableDdl(database, t);
}

const describeAttr = (a: Attribute): string =>
  a.required
    ? `${a.type}, required`
    : `${a.type}, optional, default ${JSON.stringify(a.default ?? ZERO[a.type])}`;

const byName = <T extends { name: string }>(xs: readonly T[] | undefined): Map<string, T> =>
  new Map((xs ?? []).map((x) => [x.name, x]));

/** An aggregation without its description: everything else changes the values it serves. */
function definitionOf(a: Aggregation): Record<string, unknown> {
  const { description: _d, ...rest } = a;
  return rest;
}

/** How the online counters of a new aggregation are laid out, in a plan's words. */
function describeCounters(a: Aggregation): string {
  if (typeof a.op === 'object' && 'ratio' in a.op)
    return `ratio of ${a.op.ratio.join(' / ')}: no counters of its own`;
  const what = a.op === 'count' ? `count of ${a.source}` : `sum of ${a.source}.${a.op.sum}`;
  const tiers = (a.granularity ?? []).map((t) => `${t.bucket} buckets up to ${t.up_to}`).join(', ');
  return `${what} per ${a.key.join(' x ')}, windows ${a.windows.join(' / ')}${tiers ? `, ${tiers}` : ''}`;
}

const widest = (windows: readonly Duration[]): Duration =>
  windows.reduce((w, x) => (durationMs(x) > durationMs(w) ? x : w));

/** Features that read `names` (directly, or through a ratio of them), by feature name. */
function featuresReading(repo: FeatureRepo, names: ReadonlySet<string>): string[] {
  const reads = new Set(names);
  for (const a of repo.aggregations ?? [])
    if (typeof a.op === 'object' && 'ratio' in a.op && a.op.ratio.some((p) => names.has(p)))
      reads.add(a.name);
  return repo.features.filter((f) => f.kind === 'aggregate' && reads.has(f.aggregation)).map((f) => f.name);
}

/** A feature without the fields that do not change what a model sees. */
function encodingOf(f: Feature): Record<string, unknown> {
  const { description: _d, ...rest } = f;
  return rest;
}

export function planChanges(from: FeatureRepo, to: FeatureRepo, opts: PlanOptions): RepoPlan {
  const plan: RepoPlan = {
    ddl: [],
    contract: [],
    onlineStore: [],
    features: [],
    notes: [],
    breaking: [],
    reencoded: [],
  };
  const db = opts.database;

  if (from.name !== to.name) plan.notes.push(`repository renamed '${from.name}' -> '${to.name}'`);
  if (from.unknown_attributes !== to.unknown_attributes) {
    plan.contract.push(`unknown attributes: ${from.unknown_attributes} -> ${to.unknown_attributes}`);
  }

  // Attributes of one owner (an entity, an event type, the request context).
  const diffAttributes = (
    path: string,
    olds: readonly Attribute[] | undefined,
    news: readonly Attribute[] | undefined,
    onAdd: (a: Attribute) => void,
  ): void => {
    const before = byName(olds);
    const after = byName(news);
    for (const [name, a] of before) {
      const b = after.get(name);
      if (!b) plan.breaking.push(`${path}.${name}: attribute removed`);
      else if (b.type !== a.type) plan.breaking.push(`${path}.${name}.type: ${a.type} -> ${b.type}`);
      else if (b.required && !a.required) plan.breaking.push(`${path}.${name}: optional -> required`);
    }
    for (const [name, b] of after) {
      if (before.has(name)) continue;
      if (b.required)
        plan.breaking.push(`${path}.${name}: new required attribute (existing producers lack it)`);
      else onAdd(b);
    }
  };

  const oldEntities = byName(from.entities);
  const newEntities = byName(to.entities);
  for (const [name, e] of oldEntities) {
    const n = newEntities.get(name);
    if (!n) plan.breaking.push(`entities.${name}: entity removed`);
    else if (n.key !== e.key) plan.breaking.push(`entities.${name}.key: '${e.key}' -> '${n.key}'`);
  }
  for (const [name, n] of newEntities) {
    const e = oldEntities.get(name);
    if (!e) {
      plan.contract.push(`+ entity '${name}' (key ${n.key})`);
      if (n.table) plan.ddl.push(entityTableDdl(db, to, n.table));
      continue;
    }
    const newTable = e.table === undefined ? n.table : undefined;
    if (e.table !== undefined && n.table !== e.table) {
      plan.breaking.push(`entities.${name}.table: '${e.table}' -> ${n.table ? `'${n.table}'` : 'unset'}`);
    }
    if (newTable) plan.ddl.push(entityTableDdl(db, to, newTable));
    diffAttributes(`entities.${name}.attributes`, e.attributes, n.attributes, (a) => {
      plan.contract.push(`+ ${name} attribute '${a.name}' (${describeAttr(a)})`);
      if (n.table && !newTable) plan.ddl.push(addColumnDdl(db, n.table, a));
      else if (!n.table)
        plan.notes.push(`entity '${name}' has no table: attribute '${a.name}' is not stored offline`);
      if (n.updates === 'snapshot') plan.onlineStore.push(`+ ${name} hash field '${a.name}'`);
    });
  }

  const eventsTable = to.events_table ?? 'events';
  if ((from.events_table ?? 'events') !== eventsTable) {
    plan.breaking.push(`events_table: '${from.events_table ?? 'events'}' -> '${eventsTable}'`);
  }
  const oldEvents = byName(from.event_types);
  const newEvents = byName(to.event_types);
  const addedColumns = new Set<string>();
  for (const [name, t] of oldEvents) {
    const n = newEvents.get(name);
    if (!n) plan.breaking.push(`event_types.${name}: event type removed`);
    else if ([...t.entities].sort().join(',') !== [...n.entities].sort().join(',')) {
      plan.breaking.push(
        `event_types.${name}.entities: [${t.entities.join(', ')}] -> [${n.entities.join(', ')}]`,
      );
    }
  }
  // Columns every old event type already has, so an attribute moving to another type adds no column.
  const existingColumns = new Set(from.event_types.flatMap((t) => (t.attributes ?? []).map((a) => a.name)));
  const addEventColumn = (a: Attribute): void => {
    if (existingColumns.has(a.name) || addedColumns.has(a.name)) return;
    addedColumns.add(a.name);
    plan.ddl.push(addColumnDdl(db, eventsTable, a));
  };
  const newTypeNames = to.event_types.map((t) => t.name).filter((n) => !oldEvents.has(n));
  if (newTypeNames.length > 0) {
    // The type column is an Enum8 numbered in declaration order; new types are numbered after the old ones.
    const ordered = [...from.event_types.map((t) => t.name), ...newTypeNames];
    plan.ddl.push(
      `ALTER TABLE ${db}.${eventsTable} MODIFY COLUMN type ${enum8(ordered.map((n, i) => [n, i + 1]))}`,
    );
  }
  for (const [name, n] of newEvents) {
    const t = oldEvents.get(name);
    if (!t) {
      plan.contract.push(`+ event type '${name}' (entities ${n.entities.join(', ')})`);
      for (const a of n.attributes ?? []) addEventColumn(a);
      continue;
    }
    diffAttributes(`event_types.${name}.attributes`, t.attributes, n.attributes, (a) => {
      plan.contract.push(`+ ${name} attribute '${a.name}' (${describeAttr(a)})`);
      addEventColumn(a);
    });
  }

  if (from.context.recorded_on !== to.context.recorded_on) {
    plan.breaking.push(`context.recorded_on: '${from.context.recorded_on}' -> '${to.context.recorded_on}'`);
  }
  diffAttributes('context.attributes', from.context.attributes, to.context.attributes, (a) => {
    const scope = to.context.attributes.find((x) => x.name === a.name)?.scope ?? 'request';
    plan.contract.push(`+ score request context '${a.name}' (${scope} scope, ${describeAttr(a)})`);
  });

  const oldEmb = byName(from.embeddings);
  const newEmb = byName(to.embeddings);
  for (const [name, m] of oldEmb) {
    const n = newEmb.get(name);
    if (!n) plan.breaking.push(`embeddings.${name}: embedding removed`);
    else if (n.width !== m.width) plan.breaking.push(`embeddings.${name}.width: ${m.width} -> ${n.width}`);
    else if (n.entity !== m.entity)
      plan.breaking.push(`embeddings.${name}.entity: '${m.entity}' -> '${n.entity}'`);
  }
  for (const [name, m] of oldEmb) {
    const n = newEmb.get(name);
    if (n && n.entity === m.entity && n.width === m.width && embeddingStore(n) === 'entity') {
      const [a, b] = [(m.inputs ?? []).join(', '), (n.inputs ?? []).join(', ')];
      // The vectors are keyed by the hash of the inputs' values: stored ones stop matching.
      if (a !== b)
        plan.breaking.push(`embeddings.${name}.inputs: [${a}] -> [${b}]: re-embed every ${n.entity}`);
    }
  }
  const jobs = embeddingJobs(to, TEXT_ENCODER_WIDTH);
  for (const [name, n] of newEmb) {
    if (oldEmb.has(name)) continue;
    const spec = jobs.specs.find((s) => s.name === name);
    const unsupported = jobs.unsupported.find((s) => s.name === name);
    if (spec)
      plan.notes.push(
        `embedding '${name}' (${n.entity}, width ${n.width}): the embedder encodes ${spec.inputs.map((i) => `${n.entity}.${i.attribute}`).join(', ')} with its text encoder on each ${n.entity} snapshot (entity_embeddings)`,
      );
    else if (embeddingStore(n) === 'catalogue')
      plan.notes.push(`embedding '${name}' (${n.entity}, width ${n.width}) needs an embedder`);
    else
      plan.notes.push(
        `embedding '${name}' (${n.entity}, width ${n.width}) is not embedded${unsupported ? ` (${unsupported.reason})` : ''}: its features read zeros`,
      );
  }

  // Aggregations: a changed definition serves other values under the same name, so models trained on
  // the old ones would read values they were not trained on; the counters of a new one start empty.
  const oldAggs = byName(from.aggregations);
  const newAggs = byName(to.aggregations);
  const changedAggs = new Set<string>();
  for (const [name, a] of oldAggs) {
    const n = newAggs.get(name);
    if (!n) {
      plan.onlineStore.push(
        `- aggregation '${name}': ingest stops counting it; its counters expire by their TTL`,
      );
      continue;
    }
    const [da, db_] = [definitionOf(a), definitionOf(n)];
    for (const key of [...new Set([...Object.keys(da), ...Object.keys(db_)])].sort()) {
      const [va, vb] = [JSON.stringify(da[key]), JSON.stringify(db_[key])];
      if (va === vb) continue;
      plan.breaking.push(`aggregations.${name}.${key}: ${va ?? 'unset'} -> ${vb ?? 'unset'}`);
      changedAggs.add(name);
    }
  }
  for (const [name, n] of newAggs) {
    if (oldAggs.has(name)) continue;
    plan.onlineStore.push(`+ aggregation '${name}' (${describeCounters(n)})`);
    if (!(typeof n.op === 'object' && 'ratio' in n.op))
      plan.notes.push(
        `aggregation '${name}' counts the events ingest stores from now on: until its widest window (${widest(n.windows)}) has passed, its online values fall short of the offline ones`,
      );
  }
  for (const f of featuresReading(to, changedAggs)) if (!plan.reencoded.includes(f)) plan.reencoded.push(f);

  const oldFeatures = byName(from.features);
  const newFeatures = byName(to.features);
  for (const [name, f] of oldFeatures) {
    const n = newFeatures.get(name);
    if (!n) {
      plan.breaking.push(`features.${name}: feature removed`);
      plan.reencoded.push(name);
      continue;
    }
    if (n.kind !== f.kind) {
      plan.breaking.push(`features.${name}.kind: ${f.kind} -> ${n.kind}`);
      plan.reencoded.push(name);
      continue;
    }
    const a = encodingOf(f);
    const b = encodingOf(n);
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const va = JSON.stringify(a[key]);
      const vb = JSON.stringify(b[key]);
      if (va === vb) continue;
      // A vocabulary that only grows keeps every existing id.
      if (key === 'vocabulary' && Array.isArray(a[key]) && Array.isArray(b[key])) {
        const oldVocab = a[key] as string[];
        const newVocab = b[key] as string[];
        if (oldVocab.every((v, i) => newVocab[i] === v)) {
          plan.features.push(`features.${name}.vocabulary: + ${newVocab.slice(oldVocab.length).join(', ')}`);
          continue;
        }
      }
      plan.breaking.push(`features.${name}.${key}: ${va ?? 'unset'} -> ${vb ?? 'unset'}`);
      if (!plan.reencoded.includes(name)) plan.reencoded.push(name);
    }
  }
  for (const [name, n] of newFeatures) {
    if (oldFeatures.has(name)) continue;
    plan.features.push(`+ feature '${name}' (${n.kind})`);
    if (n.kind === 'sequence') {
      plan.onlineStore.push(
        `+ ${n.owner} sequence '${name}' of ${n.event_types.join(', ')} (${n.target}, length ${n.length})`,
      );
    }
  }

  const la = from.label;
  const lb = to.label;
  for (const key of ['anchor', 'positive', 'match_on', 'attribution_window_ms'] as const) {
    if (JSON.stringify(la[key]) !== JSON.stringify(lb[key])) {
      plan.breaking.push(
        `label.${key}: ${JSON.stringify(la[key]) ?? 'unset'} -> ${JSON.stringify(lb[key]) ?? 'unset'}`,
      );
    }
  }

  const changed =
    plan.ddl.length +
      plan.contract.length +
      plan.onlineStore.length +
      plan.features.length +
      plan.breaking.length >
    0;
  if (changed && from.version === to.version) {
    plan.notes.push(`version is still '${to.version}': give the changed repository a new version`);
  }
  return plan;
}

/** A titled list as plans print it; continuation lines of multi-line items (CREATE TABLE) stay indented. */
export function formatSection(title: string, items: readonly string[], end = ''): string[] {
  if (items.length === 0) return [];
  return [`${title}:`, ...items.map((i) => `  ${i.replace(/\n/g, '\n  ')}${end}`)];
}

/** The plan as the CLI prints it. */
export function formatPlan(
  from: FeatureRepo,
  to: FeatureRepo,
  plan: RepoPlan,
  allowBreaking: boolean,
): string {
  const lines = [`plan ${from.name} ${from.version} -> ${to.name} ${to.version}`];
  const section = (title: string, items: string[], end = ''): void => {
    lines.push(...formatSection(title, items, end));
  };
  section('ClickHouse DDL', plan.ddl, ';');
  section('contract changes', plan.contract);
  section('online store changes', plan.onlineStore);
  section('feature changes', plan.features);
  section('notes', plan.notes);
  section(allowBreaking ? 'breaking changes (allowed)' : 'breaking changes', plan.breaking);
  const additive = plan.ddl.length + plan.contract.length + plan.onlineStore.length + plan.features.length;
  if (additive + plan.breaking.length === 0) lines.push('no changes');
  if (plan.breaking.length > 0 && !allowBreaking) {
    lines.push(
      `refused: ${plan.breaking.length} breaking change(s); pass --allow-breaking to plan them anyway`,
    );
  }
  return lines.join('\n');
}
