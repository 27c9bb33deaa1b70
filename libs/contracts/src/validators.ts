import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import eventSchema from './schemas/event.v1.schema.json';
import itemSchema from './schemas/item.v1.schema.json';
import scoreLogSchema from './schemas/score-log.v1.schema.json';
import type { BehaviourEvent, CatalogueItem, ScoreLogRecord } from './types';
import { decodeUtf8, escapeLoneSurrogates, findIllFormedString, isWellFormed } from './well-formed';

/**
 * Largest encoded message the contracts accept; larger ones are rejected before parsing, and the
 * producer SDK refuses to send them. Far below the broker's limit so a dead-lettered copy (the same
 * bytes plus reason and origin headers) always fits.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/** The broker's `message.max.bytes` (deploy/local/kafka/server.properties.tmpl); the DLQ topic shares it. */
export const BROKER_MAX_MESSAGE_BYTES = 2 * 1024 * 1024;

/** Upper bound of what dead-lettering adds to a message: the four DLQ headers and the record framing. */
export const DLQ_OVERHEAD_BYTES = 4 * 1024;

/** Longest reason text a decode failure carries (the DLQ reason header stays small). */
export const MAX_REASON_CHARS = 512;

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
ajv.addSchema(eventSchema).addSchema(itemSchema).addSchema(scoreLogSchema);

const compiled = {
  event: ajv.getSchema(eventSchema.$id) as ValidateFunction<BehaviourEvent>,
  item: ajv.getSchema(itemSchema.$id) as ValidateFunction<CatalogueItem>,
  scoreLog: ajv.getSchema(scoreLogSchema.$id) as ValidateFunction<ScoreLogRecord>,
};
export type ContractName = keyof typeof compiled;

/** The name as is, or JSON-escaped when it has a lone surrogate (a reason must itself be well-formed). */
const printable = (s: string): string => (isWellFormed(s) ? s : JSON.stringify(s).slice(1, -1));

function describe(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'invalid';
  const where = e.instancePath || '(root)';
  const extra =
    e.keyword === 'additionalProperties'
      ? ` '${printable(String((e.params as { additionalProperty: string }).additionalProperty))}'`
      : e.keyword === 'enum'
        ? `: ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`
        : '';
  return `${where} ${e.message ?? e.keyword}${extra}`;
}

export function validate<K extends ContractName>(
  name: K,
  value: unknown,
): Decoded<K extends 'event' ? BehaviourEvent : K extends 'item' ? CatalogueItem : ScoreLogRecord> {
  // Every string, at any depth, must survive UTF-8 encoding unchanged (no lone surrogates).
  const illFormed = findIllFormedString(value);
  if (illFormed) return { ok: false, reason: `schema: ${illFormed}` };
  return validateSchema(name, value);
}

/** The JSON Schema alone (strings already known to be well-formed). */
export function validateSchema<K extends ContractName>(name: K, value: unknown): Decoded<never> {
  const fn = compiled[name] as ValidateFunction;
  if (fn(value)) return { ok: true, value: value as never };
  return { ok: false, reason: `schema: ${describe(fn.errors)}` };
}

/**
 * A reason as it goes into a DLQ header: well-formed (V8's JSON errors quote the input and may cut a
 * surrogate pair in half) and at most MAX_REASON_CHARS long, never ending in half a pair.
 */
function clip(reason: string): string {
  const s = escapeLoneSurrogates(reason);
  if (s.length <= MAX_REASON_CHARS) return s;
  let end = MAX_REASON_CHARS - 3;
  if (/[\ud800-\udbff]/.test(s[end - 1]!)) end--;
  return `${s.slice(0, end)}...`;
}

/**
 * Decodes a raw Kafka message value: size limit, strict UTF-8 (invalid bytes are rejected, never
 * replaced), JSON, every string well-formed, then `check` (a contract). The reason of a rejection is
 * at most MAX_REASON_CHARS long. `maxBytes` defaults to the contracts' MAX_MESSAGE_BYTES.
 */
export function decodeWith<T>(
  raw: Buffer | null | undefined,
  check: (parsed: unknown) => Decoded<T>,
  maxBytes: number = MAX_MESSAGE_BYTES,
): Decoded<T> {
  if (!raw || raw.length === 0) return { ok: false, reason: 'empty message' };
  if (raw.length > maxBytes) return { ok: false, reason: `oversized: ${raw.length} bytes > ${maxBytes}` };
  const text = decodeUtf8(raw);
  if (!text.ok) return { ok: false, reason: text.reason };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.text);
  } catch (err) {
    return { ok: false, reason: clip(`bad JSON: ${(err as Error).message}`) };
  }
  const illFormed = findIllFormedString(parsed);
  if (illFormed) return { ok: false, reason: clip(`schema: ${illFormed}`) };
  const r = check(parsed);
  return r.ok ? r : { ok: false, reason: clip(r.reason) };
}

/** decodeWith the named JSON Schema contract. */
export function decode<K extends ContractName>(name: K, raw: Buffer | null | undefined) {
  return decodeWith(raw, (v) => validateSchema(name, v)) as ReturnType<typeof validate<K>>;
}

export const schemas = { event: eventSchema, item: itemSchema, scoreLog: scoreLogSchema };
