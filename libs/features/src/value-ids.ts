// Values of the categorical features whose vocabulary the trainer fits (`fit`): exact vocabularies, so a
// value is not reduced to a hash bucket. The process-wide caches (item cache, assembler) hold a value id
// interned here, the same for every model; each model maps ids to its own vocabulary's rows before
// inference (apps/scorer/src/model/vocabularies.ts). Python's twin is mmctr_trainer/vocabulary.py.
import { fnv1a64, SEPARATOR } from './hash';

const encoder = new TextEncoder();

/**
 * The key a fitted vocabulary stores a value under: fnv1a64(utf8(field + '\x1f' + value)) as a signed
 * int64 (Python's features.value_key); 0n for an empty value.
 */
export function valueKey(field: string, value: string): bigint {
  if (value === '') return 0n;
  return BigInt.asIntN(64, fnv1a64(encoder.encode(field + SEPARATOR + value)));
}

/**
 * Dense ids of the values seen per fitted feature: 1, 2, ... in order of first sight, 0 for an empty
 * value. Grows with the distinct values served (fitted features are bounded vocabularies; unbounded ids
 * stay hashed without `fit`).
 */
export class ValueIds {
  private readonly ids = new Map<string, Map<string, number>>();
  private readonly texts = new Map<string, string[]>();

  id(feature: string, value: string): number {
    if (value === '') return 0;
    let ids = this.ids.get(feature);
    if (!ids) {
      ids = new Map();
      this.ids.set(feature, ids);
      this.texts.set(feature, ['']);
    }
    let id = ids.get(value);
    if (id === undefined) {
      const texts = this.texts.get(feature)!;
      id = texts.length;
      texts.push(value);
      ids.set(value, id);
    }
    return id;
  }

  /** The value of an id (undefined for one never given out). */
  text(feature: string, id: number): string | undefined {
    return this.texts.get(feature)?.[id];
  }

  /** How many ids a feature has given out, 0 included. */
  count(feature: string): number {
    return this.texts.get(feature)?.length ?? 1;
  }
}

/** The process's value ids: shared by every cache and assembler, so one id means one value everywhere. */
export const valueIds = new ValueIds();
