import type { Attribute, AttributeValue, FeatureRepo } from '../types';
import { compileValueCheck, describeValue, fallbackValue, type ValueCheck } from './attribute-check';

/** A decoded message: its core fields, keys and attributes (defaults filled), by name. */
export type NormalisedRecord = Record<string, AttributeValue>;

export type ContractResult = { ok: true; value: NormalisedRecord } | { ok: false; reason: string };

export type UnknownPolicy = FeatureRepo['unknown_attributes'];

/** One compiled field of a message: where to read it, how to check it, what it reads when missing. */
export interface CompiledField {
  readonly name: string;
  /** How reasons name it: `attribute 'slot'`, `field 'ts_ms'`. */
  readonly label: string;
  readonly check: ValueCheck;
  readonly required: boolean;
  readonly fallback: AttributeValue;
  /** May also arrive under the message's `context` object. */
  readonly nestable: boolean;
  /** The name is also a property of Object.prototype (`constructor`): read it as an own property only. */
  readonly inherited: boolean;
}

export function compileField(a: Attribute, label: string, path: string, nestable = false): CompiledField {
  return {
    name: a.name,
    label: `${label} '${a.name}'`,
    check: compileValueCheck(a, path),
    required: a.required === true,
    fallback: a.required ? '' : fallbackValue(a),
    nestable,
    inherited: a.name in Object.prototype,
  };
}

/** Core field ts_ms: epoch milliseconds between 2000 and 2100. */
const TS_MS: Attribute = {
  name: 'ts_ms',
  type: 'int',
  required: true,
  min: 946684800000,
  max: 4102444800000,
};

export const TS_MS_FIELD = compileField(TS_MS, 'field', 'ts_ms');

/** The fields of the attributes declared under `owner` (`entities.<name>`, `event_types.<name>`). */
export const attributeFields = (
  owner: string,
  attrs: readonly Attribute[] | undefined,
  nestable: (name: string) => boolean = () => false,
): CompiledField[] =>
  (attrs ?? []).map((a) => compileField(a, 'attribute', `${owner}.attributes.${a.name}`, nestable(a.name)));

/** An entity key: a non-empty string of at most 128 characters. */
export const keyField = (key: string): CompiledField =>
  compileField({ name: key, type: 'string', required: true, min_length: 1, max_length: 128 }, 'field', key);

type Json = Record<string, unknown>;

/** Reads a message's fields into a record, or returns why it cannot; `counts` = [top-level, nested] fields seen. */
export type FieldReader = (top: Json, nested: Json | undefined) => NormalisedRecord | string;

const own = (o: Json, name: string): unknown =>
  Object.prototype.hasOwnProperty.call(o, name) ? o[name] : undefined;

const lit = (s: string): string => JSON.stringify(s);

/** Generated code reading field `i` into local `f<i>`. */
function fieldCode(f: CompiledField, i: number): string {
  const get = (o: string) => (f.inherited ? `own(${o}, ${lit(f.name)})` : `${o}[${lit(f.name)}]`);
  const nested = f.nestable
    ? `if (nested !== undefined && (w = ${get('nested')}) !== undefined) {
        if (v !== undefined) return ${lit(`${f.label} is given both at the top level and under context`)};
        counts[1]++; v = w;
      }`
    : '';
  const missing = f.required ? `return ${lit(`missing required ${f.label}`)};` : `f${i} = fallbacks[${i}];`;
  return `v = ${get('top')}; if (v !== undefined) counts[0]++;
    ${nested}
    let f${i};
    if (v === undefined) { ${missing} }
    else { r = checks[${i}](v); if (r !== undefined) return ${lit(`${f.label}: `)} + r; f${i} = v; }`;
}

/**
 * Compiles `fields` into one straight-line function (like ajv's generated validators): every field
 * read, checked and defaulted in order, the record built as one object literal of a fixed shape,
 * `head` (name -> JS expression over `top`) first. Field names are identifiers (the repository
 * schema's name pattern), and every name in the code is a JSON string literal.
 */
export function compileReader(
  fields: readonly CompiledField[],
  head: Readonly<Record<string, string>>,
  counts: Int32Array,
): FieldReader {
  const body = `return function read(top, nested) {
    let v, w, r;
    counts[0] = 0; counts[1] = 0;
    ${fields.map(fieldCode).join('\n')}
    return {
      ${Object.entries(head)
        .map(([k, expr]) => `${lit(k)}: ${expr},`)
        .join('\n')}
      ${fields.map((f, i) => `${lit(f.name)}: f${i},`).join('\n')}
    };
  };`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from validated names only
  const make = new Function('checks', 'fallbacks', 'own', 'counts', body) as (
    ...args: unknown[]
  ) => FieldReader;
  return make(
    fields.map((f) => f.check),
    fields.map((f) => f.fallback),
    own,
    counts,
  );
}

/** How many own enumerable properties `o` has (without allocating a key list). */
function propertyCount(o: Json): number {
  let n = 0;
  for (const _ in o) n++;
  return n;
}

/**
 * Applies the repository's unknown-attribute policy to the properties of `o` that `known` lacks:
 * `reject` names the first one, `keep` copies them into `out` unchecked (storage ignores them; no
 * `out`: nowhere to keep them), `drop` leaves them out. `seen`: how many properties of `o` the reader
 * found known; when that is all of them there is nothing to scan.
 */
export function unknownProperties(
  o: Json,
  seen: number,
  known: ReadonlySet<string>,
  policy: UnknownPolicy,
  out: NormalisedRecord | undefined,
  where = '',
): string | undefined {
  if (seen === propertyCount(o)) return undefined;
  for (const k in o) {
    if (known.has(k)) continue;
    if (policy === 'reject') return `unknown attribute '${k}'${where} (unknown_attributes: reject)`;
    if (policy === 'keep' && out !== undefined)
      Object.defineProperty(out, k, { value: o[k], enumerable: true, writable: true, configurable: true });
  }
  return undefined;
}

/** The parsed message as an object, or why it is not one. */
export function asObject(v: unknown, what: string): Json | string {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    return `${what}: expected a JSON object, ${describeValue(v)}`;
  return v as Json;
}

export const fail = (reason: string): ContractResult => ({ ok: false, reason: `schema: ${reason}` });

/** schema_version 1, the only wire version. */
function schemaVersionReason(v: unknown): string | undefined {
  return v === 1
    ? undefined
    : v === undefined
      ? "missing required field 'schema_version'"
      : `field 'schema_version': expected 1, ${describeValue(v)}`;
}

/** A message's top level: a JSON object with schema_version 1, or the reason it is not. */
export function messageObject(parsed: unknown): Json | string {
  const top = asObject(parsed, 'message');
  if (typeof top === 'string') return top;
  return schemaVersionReason(top.schema_version) ?? top;
}
