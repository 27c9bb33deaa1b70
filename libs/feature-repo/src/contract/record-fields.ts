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
export const TS_MS: Attribute = {
  name: 'ts_ms',
  type: 'int',
  required: true,
  min: 946684800000,
  max: 4102444800000,
};

/** An entity key: a non-empty string of at most 128 characters. */
export const keyField = (key: string): CompiledField =>
  compileField({ name: key, type: 'string', required: true, min_length: 1, max_length: 128 }, 'field', key);

type Json = Record<string, unknown>;

const own = (o: Json, name: string): unknown =>
  Object.prototype.hasOwnProperty.call(o, name) ? o[name] : undefined;

/**
 * Reads `fields` from `top` (or, for nestable ones, from `nested`) into `out`: checked values, or the
 * fallback of a missing optional one. Returns the first reason a field is invalid.
 */
export function readFields(
  fields: readonly CompiledField[],
  top: Json,
  nested: Json | undefined,
  out: NormalisedRecord,
): string | undefined {
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    let v = f.inherited ? own(top, f.name) : top[f.name];
    if (f.nestable && nested !== undefined) {
      const n = f.inherited ? own(nested, f.name) : nested[f.name];
      if (n !== undefined) {
        if (v !== undefined) return `${f.label} is given both at the top level and under context`;
        v = n;
      }
    }
    if (v === undefined) {
      if (f.required) return `missing required ${f.label}`;
      out[f.name] = f.fallback;
      continue;
    }
    const bad = f.check(v);
    if (bad !== undefined) return `${f.label}: ${bad}`;
    out[f.name] = v as AttributeValue;
  }
  return undefined;
}

/**
 * Applies the repository's unknown-attribute policy to the properties of `o` that `known` lacks:
 * `reject` names the first one, `keep` copies them into `out` unchecked (storage ignores them; no
 * `out`: nowhere to keep them), `drop` leaves them out.
 */
export function unknownProperties(
  o: Json,
  known: ReadonlySet<string>,
  policy: UnknownPolicy,
  out: NormalisedRecord | undefined,
  where = '',
): string | undefined {
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
export function schemaVersionReason(v: unknown): string | undefined {
  return v === 1
    ? undefined
    : v === undefined
      ? "missing required field 'schema_version'"
      : `field 'schema_version': expected 1, ${describeValue(v)}`;
}
