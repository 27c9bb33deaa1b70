import type { EventType, FeatureRepo } from '../types';
import {
  TS_MS_FIELD,
  asObject,
  attributeFields,
  compileField,
  fail,
  keyField,
  messageObject,
  compileReader,
  unknownProperties,
  type CompiledField,
  type FieldReader,
  type ContractResult,
} from './record-fields';

/** Names every behaviour event may carry besides its keys and attributes. */
export const EVENT_RESERVED = ['schema_version', 'event_id', 'type', 'ts_ms', 'context'] as const;

const EVENT_ID = compileField(
  { name: 'event_id', type: 'string', required: true, min_length: 1, max_length: 64 },
  'field',
  'event_id',
);
const EVENT_ID_PATTERN = /^[A-Za-z0-9_.:-]+$/;

interface CompiledType {
  readonly read: FieldReader;
  readonly counts: Int32Array;
  readonly known: ReadonlySet<string>;
  readonly nestable: ReadonlySet<string>;
}

/** A compiled behaviour-event contract: a parsed JSON value in, a normalised record or a reason out. */
export interface EventContract {
  readonly check: (parsed: unknown) => ContractResult;
  /** Event type names in repository order (the events table's Enum8 numbers them from 1). */
  readonly types: readonly string[];
}

function compileType(repo: FeatureRepo, t: EventType): CompiledType {
  const keys = t.entities.map((e) => repo.entities.find((x) => x.name === e)!.key);
  const requestContext = new Set(
    repo.context.attributes.filter((a) => a.scope === 'request').map((a) => a.name),
  );
  const attrs = attributeFields(`event_types.${t.name}`, t.attributes, (name) => requestContext.has(name));
  const fields: CompiledField[] = [TS_MS_FIELD, ...keys.map(keyField), ...attrs];
  const counts = new Int32Array(2);
  return {
    read: compileReader(fields, EVENT_HEAD, counts),
    counts,
    known: new Set<string>([...EVENT_RESERVED, ...keys, ...attrs.map((a) => a.name)]),
    nestable: new Set(attrs.filter((a) => a.nestable).map((a) => a.name)),
  };
}

/** Checked by the dispatcher before the type's reader runs. */
const EVENT_HEAD = { schema_version: '1', event_id: 'top.event_id', type: 'top.type' };

/**
 * Compiles the repository's behaviour-event contract once; `check` then allocates only the record.
 * Request-scope context attributes of an event type may arrive at the top level or under `context`.
 */
export function compileEventContract(repo: FeatureRepo): EventContract {
  const types = new Map(repo.event_types.map((t) => [t.name, compileType(repo, t)]));
  const names = repo.event_types.map((t) => t.name);
  const expected = names.join(', ');
  const policy = repo.unknown_attributes;
  const check = (parsed: unknown): ContractResult => {
    const top = messageObject(parsed);
    if (typeof top === 'string') return fail(top);
    const id = top.event_id;
    const idBad = id === undefined ? "missing required field 'event_id'" : EVENT_ID.check(id);
    if (idBad !== undefined) return fail(id === undefined ? idBad : `field 'event_id': ${idBad}`);
    if (!EVENT_ID_PATTERN.test(id as string))
      return fail(`field 'event_id': ${JSON.stringify(id)} does not match ${EVENT_ID_PATTERN.source}`);
    const name = top.type;
    const t = typeof name === 'string' ? types.get(name) : undefined;
    if (t === undefined)
      return fail(
        name === undefined
          ? "missing required field 'type'"
          : `unknown event type ${JSON.stringify(name)} (expected one of: ${expected})`,
      );
    return checkType(t, top, policy);
  };
  return { check, types: names };
}

function checkType(
  t: CompiledType,
  top: Record<string, unknown>,
  policy: FeatureRepo['unknown_attributes'],
): ContractResult {
  let nested: Record<string, unknown> | undefined;
  if (top.context !== undefined) {
    const c = asObject(top.context, "field 'context'");
    if (typeof c === 'string') return fail(c);
    nested = c;
  }
  const out = t.read(top, nested);
  if (typeof out === 'string') return fail(out);
  // schema_version, event_id, type (all checked present) and context are the known names outside the fields.
  const seen = t.counts[0]! + 3 + (nested === undefined ? 0 : 1);
  const bad =
    unknownProperties(top, seen, t.known, policy, out) ??
    // Kept unknown context properties are not copied: they could shadow a top-level name.
    (nested && unknownProperties(nested, t.counts[1]!, t.nestable, policy, undefined, ' under context'));
  return bad === undefined ? { ok: true, value: out } : fail(bad);
}
