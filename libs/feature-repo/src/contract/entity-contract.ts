import type { Entity, FeatureRepo } from '../types';
import {
  TS_MS_FIELD,
  attributeFields,
  fail,
  keyField,
  messageObject,
  compileReader,
  unknownProperties,
  type ContractResult,
} from './record-fields';

/** A compiled entity-snapshot contract: a parsed JSON value in, a normalised record or a reason out. */
export interface EntityContract {
  readonly entity: Entity;
  readonly check: (parsed: unknown) => ContractResult;
}

/** The entity of that name, or an error naming the ones there are. */
export function findEntity(repo: FeatureRepo, name: string): Entity {
  const e = repo.entities.find((x) => x.name === name);
  if (!e)
    throw new Error(`unknown entity '${name}' (entities: ${repo.entities.map((x) => x.name).join(', ')})`);
  return e;
}

/** Compiles the snapshot contract of `entity`: `{ schema_version: 1, <key>, ts_ms, <attributes...> }`. */
export function compileEntityContract(repo: FeatureRepo, entityName: string): EntityContract {
  const entity = findEntity(repo, entityName);
  const attrs = attributeFields(`entities.${entity.name}`, entity.attributes);
  const fields = [keyField(entity.key), TS_MS_FIELD, ...attrs];
  const known = new Set(['schema_version', entity.key, 'ts_ms', ...attrs.map((a) => a.name)]);
  const policy = repo.unknown_attributes;
  const counts = new Int32Array(2);
  const read = compileReader(fields, { schema_version: '1' }, counts);
  const check = (parsed: unknown): ContractResult => {
    const top = messageObject(parsed);
    if (typeof top === 'string') return fail(top);
    const out = read(top, undefined);
    if (typeof out === 'string') return fail(out);
    const bad = unknownProperties(top, counts[0]! + 1, known, policy, out);
    return bad === undefined ? { ok: true, value: out } : fail(bad);
  };
  return { entity, check };
}
