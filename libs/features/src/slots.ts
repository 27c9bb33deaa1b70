// Encoding of one layout slot's raw value, identical to the trainer's (mmctr_trainer): categorical ids
// (hash / vocabulary / bucketize), numeric values, multi-categorical id lists and vectors. Shared by the
// libs/features batch encoders and the scorer's compiled assembler and item cache.
import type { CategoricalSlot, FeatureRepo, MultiSlot, NumericSlot } from '@mmctr/feature-repo';
import { Hasher } from './hash-cache';
import { valueIds } from './value-ids';

/** A raw attribute value as requests, catalogue rows and history entries carry it. */
export type RawValue = string | number | boolean | readonly string[] | null | undefined;

/** The entity (or `context`) and attribute a slot's `source` names: `item.category` -> [item, category]. */
export function splitSource(source: string): [string, string] {
  const dot = source.indexOf('.');
  if (dot <= 0) throw new Error(`slot source '${source}' is not <entity>.<attribute>`);
  return [source.slice(0, dot), source.slice(dot + 1)];
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Values derived from a timestamp (ms since the epoch, UTC), as decimal strings. */
const DERIVE: Record<string, (tsMs: number) => string> = {
  hour_of_day_utc: (ts) => String(Math.floor(ts / HOUR_MS) % 24),
  // 1970-01-01 was a Thursday; Monday = 0 (Python's weekday()).
  day_of_week_utc: (ts) => String((Math.floor(ts / DAY_MS) + 3) % 7),
};

export function hourOfDay(tsMs: number): string {
  return DERIVE.hour_of_day_utc!(tsMs);
}

const isMissing = (v: RawValue): boolean => v === undefined || v === null || v === '';

/**
 * The string a categorical value is hashed or looked up as: strings as they are, booleans as
 * 'true'/'false', numbers (clipped first when the slot clips: truncated to an integer, then clamped) in
 * decimal; '' for a missing or non-finite one.
 */
export function categoricalString(v: RawValue, clip?: readonly [number, number]): string {
  if (isMissing(v) || Array.isArray(v)) return '';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return v;
  const n = v as number;
  if (!Number.isFinite(n)) return '';
  if (!clip) return String(n);
  return String(Math.min(Math.max(Math.trunc(n), clip[0]), clip[1]));
}

/**
 * Bucket of a history entry's age: 1 + (number of boundaries <= max(0, ageMs)), so a click in the
 * future is 1 and an age equal to a boundary falls in the bucket above it. NaN (unknown time) is 0.
 */
export function ageBucket(ageMs: number, boundaries: readonly number[]): number {
  if (Number.isNaN(ageMs)) return 0;
  return 1 + countAtOrBelow(boundaries, Math.max(0, ageMs));
}

/** Age bucket of an event at eventTsMs for a request at requestTsMs; 0 for an unknown event time. */
export function clickAgeBucket(
  requestTsMs: number,
  eventTsMs: number | null | undefined,
  boundaries: readonly number[],
): number {
  if (eventTsMs === undefined || eventTsMs === null || !Number.isFinite(eventTsMs)) return 0;
  return ageBucket(requestTsMs - eventTsMs, boundaries);
}

/** How many of the increasing `boundaries` are <= x (binary search). */
function countAtOrBelow(boundaries: readonly number[], x: number): number {
  let lo = 0;
  let hi = boundaries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (boundaries[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const toNumber = (v: RawValue): number =>
  typeof v === 'number' ? v : typeof v === 'boolean' ? Number(v) : Number(v);

/** Id of a categorical slot's value (0 = missing, empty, unknown). `v` is the request time for `derive`. */
export type CategoricalEncoder = (v: RawValue) => number;

export function categoricalEncoder(slot: CategoricalSlot, hasher: Hasher): CategoricalEncoder {
  const clip = slot.clip;
  switch (slot.encoding) {
    case 'hash': {
      const field = slot.field ?? slot.feature;
      const derive = slot.derive ? DERIVE[slot.derive] : undefined;
      if (slot.derive && !derive) throw new Error(`slot ${slot.feature}: unknown derive '${slot.derive}'`);
      // A fitted vocabulary is exact: the value's process-wide id, mapped to the model's row before inference.
      const id: (text: string) => number = slot.fit
        ? (text) => valueIds.id(slot.feature, text)
        : (text) => hasher.bucket(field, text, slot.size);
      if (derive) return (v) => (isMissing(v) ? 0 : id(derive(toNumber(v))));
      return (v) => id(categoricalString(v, clip));
    }
    case 'vocabulary': {
      const ids = new Map(slot.vocabulary!.map((w, i) => [w, i + 1]));
      return (v) => ids.get(categoricalString(v, clip)) ?? 0;
    }
    case 'bucketize': {
      const boundaries = slot.boundaries!;
      return (v) => {
        if (isMissing(v) || Array.isArray(v)) return 0;
        let x = toNumber(v);
        if (Number.isNaN(x)) return 0;
        if (clip) x = Math.min(Math.max(x, clip[0]), clip[1]);
        return 1 + countAtOrBelow(boundaries, x);
      };
    }
  }
}

/** The declared default of the attribute a source reads (undefined when none). */
export function attributeDefault(repo: FeatureRepo, source: string): RawValue {
  const [ns, attr] = splitSource(source);
  const attrs =
    ns === 'context' ? repo.context.attributes : repo.entities.find((e) => e.name === ns)?.attributes;
  return attrs?.find((a) => a.name === attr)?.default;
}

/** float32 value of a numeric slot: missing -> `fallback` (the attribute's default), clip, transform. */
export function numericEncoder(slot: NumericSlot, fallback: RawValue): (v: RawValue) => number {
  const clip = slot.clip;
  // No stats: the trainer fitted them into the model's graph, which standardizes the clipped value fed here.
  const { mean, std } = slot.stats ?? { mean: 0, std: 1 };
  const transform: (x: number) => number =
    slot.transform === 'log1p'
      ? (x) => Math.log1p(Math.max(x, 0))
      : slot.transform === 'standardize'
        ? (x) => (x - mean) / std
        : (x) => x;
  return (v) => {
    const raw = isMissing(v) ? fallback : v;
    let x = isMissing(raw) ? 0 : toNumber(raw);
    if (Number.isNaN(x)) x = 0;
    if (clip) x = Math.min(Math.max(x, clip[0]), clip[1]);
    return Math.fround(transform(x));
  };
}

/**
 * Writes a multi-categorical slot's ids at out[at, at + max_length): the first max_length non-empty
 * values, each hashed with the slot's field, the rest 0.
 */
export function multiEncoder(
  slot: MultiSlot,
  hasher: Hasher,
): (v: RawValue, out: { set(i: number, id: number): void }, at: number) => void {
  const { field, size, max_length: max } = slot;
  return (v, out, at) => {
    let k = 0;
    if (Array.isArray(v)) {
      for (const t of v as readonly string[]) {
        if (k >= max) break;
        if (!t) continue;
        out.set(at + k, hasher.bucket(field, t, size));
        k++;
      }
    }
    for (; k < max; k++) out.set(at + k, 0);
  };
}

/** vec into out[at, at + width): truncated or zero-padded; zeros when there is none. */
export function writeVector(
  vec: ArrayLike<number> | null | undefined,
  out: Float32Array,
  at: number,
  width: number,
): void {
  const n = vec ? Math.min(vec.length, width) : 0;
  for (let i = 0; i < n; i++) out[at + i] = vec![i]!;
  out.fill(0, at + n, at + width);
}
