import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import eventSchema from './schemas/event.v1.schema.json';
import itemSchema from './schemas/item.v1.schema.json';
import scoreLogSchema from './schemas/score-log.v1.schema.json';
import type { BehaviourEvent, CatalogueItem, ScoreLogRecord } from './types';

/** Largest encoded message the contracts accept; larger ones are rejected before parsing. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
ajv.addSchema(eventSchema).addSchema(itemSchema).addSchema(scoreLogSchema);

const compiled = {
  event: ajv.getSchema(eventSchema.$id) as ValidateFunction<BehaviourEvent>,
  item: ajv.getSchema(itemSchema.$id) as ValidateFunction<CatalogueItem>,
  scoreLog: ajv.getSchema(scoreLogSchema.$id) as ValidateFunction<ScoreLogRecord>,
};
export type ContractName = keyof typeof compiled;

function describe(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'invalid';
  const where = e.instancePath || '(root)';
  const extra =
    e.keyword === 'additionalProperties'
      ? ` '${String((e.params as { additionalProperty: string }).additionalProperty)}'`
      : e.keyword === 'enum'
        ? `: ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`
        : '';
  return `${where} ${e.message ?? e.keyword}${extra}`;
}

export function validate<K extends ContractName>(
  name: K,
  value: unknown,
): Decoded<K extends 'event' ? BehaviourEvent : K extends 'item' ? CatalogueItem : ScoreLogRecord> {
  const fn = compiled[name] as ValidateFunction;
  if (fn(value)) return { ok: true, value: value as never };
  return { ok: false, reason: `schema: ${describe(fn.errors)}` };
}

/** Decodes a raw Kafka message value: size limit, UTF-8 JSON, then the contract. */
export function decode<K extends ContractName>(name: K, raw: Buffer | null | undefined) {
  if (!raw || raw.length === 0) return { ok: false, reason: 'empty message' } as const;
  if (raw.length > MAX_MESSAGE_BYTES)
    return { ok: false, reason: `oversized: ${raw.length} bytes > ${MAX_MESSAGE_BYTES}` } as const;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: `bad JSON: ${(err as Error).message}` } as const;
  }
  return validate(name, parsed);
}

export const schemas = { event: eventSchema, item: itemSchema, scoreLog: scoreLogSchema };
