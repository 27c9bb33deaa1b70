// Raw values -> the int64 ids and float32 vectors the exported models take (serving signature:
// user_fields [1,U], hist_ids [1,L], hist_tags [1,L,5], hist_cat [1,L], hist_mm [1,L,D],
// hist_age [1,L] (fs-2 on), cand_fields [B,C], cand_tags [B,5], cand_mm [B,D]).
// Mirrors mmctr_trainer/features.py.
import { bucket } from './hash';
import { FeatureSpec, FieldSpec, TAG_SLOTS } from './spec';

export interface RawItem {
  item_id: string;
  category?: string | null;
  tags?: readonly string[] | null;
  /** Fused multimodal vector; zeros when absent, truncated or zero-padded to the spec's dim. */
  mm?: ArrayLike<number> | null;
}

export interface RawHistoryItem extends RawItem {
  /** When the user clicked it (ms since epoch); absent = unknown, age bucket 0. */
  ts_ms?: number | null;
}

export interface RawUser {
  user_id: string;
  device?: string | null;
  placement?: string | null;
  country?: string | null;
  /** Request time (ms since epoch, UTC): gives hour_of_day and the history ages. */
  ts_ms: number;
  /** Clicked items, newest first; only the first history.length are used. */
  history?: readonly RawHistoryItem[];
}

export interface RawCandidate extends RawItem {
  position?: number | null;
}

export interface EncodedUser {
  userFields: BigInt64Array; // [1, U]
  histIds: BigInt64Array; // [1, L]
  histTags: BigInt64Array; // [1, L, 5]
  histCat: BigInt64Array; // [1, L]
  histMm: Float32Array; // [1, L, D]
  histAge: BigInt64Array; // [1, L]; all 0 when the spec has no history.age
}

export interface EncodedCandidates {
  batch: number;
  candFields: BigInt64Array; // [B, C]
  candTags: BigInt64Array; // [B, 5]
  candMm: Float32Array; // [B, D]
}

/** Memoises bucket() per field and value: values repeat a lot in a request. */
export class Hasher {
  private readonly cache = new Map<string, number>();
  constructor(private readonly maxEntries = 200_000) {}

  bucket(field: string, value: string | null | undefined, buckets: number): number {
    if (value === undefined || value === null || value === '') return 0;
    const key = `${buckets}\x1f${field}\x1f${value}`;
    let v = this.cache.get(key);
    if (v === undefined) {
      v = bucket(field, value, buckets);
      if (this.cache.size >= this.maxEntries) this.cache.clear();
      this.cache.set(key, v);
    }
    return v;
  }
}

const defaultHasher = new Hasher();

function field(fields: FieldSpec[], name: string): FieldSpec {
  const f = fields.find((x) => x.name === name);
  if (!f) throw new Error(`feature spec has no field ${name}`);
  return f;
}

export function hourOfDay(tsMs: number): string {
  return String(Math.floor(tsMs / 3_600_000) % 24);
}

export function positionValue(position: number | null | undefined, clip?: [number, number]): string {
  if (position === undefined || position === null || !Number.isFinite(position)) return '';
  let p = Math.trunc(position);
  if (clip) p = Math.min(Math.max(p, clip[0]), clip[1]);
  return String(p);
}

/**
 * History age bucket: 1 + (number of boundaries <= max(0, ageMs)), so a click in the future is 1
 * and an age equal to a boundary falls in the bucket above it. NaN (unknown click time) is 0.
 */
export function ageBucket(ageMs: number, boundaries: readonly number[]): number {
  if (Number.isNaN(ageMs)) return 0;
  const age = Math.max(0, ageMs);
  let lo = 0;
  let hi = boundaries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (boundaries[mid]! <= age) lo = mid + 1;
    else hi = mid;
  }
  return 1 + lo;
}

/** Age bucket of a click at clickTsMs for a request at requestTsMs; 0 for an unknown click time. */
export function clickAgeBucket(
  requestTsMs: number,
  clickTsMs: number | null | undefined,
  boundaries: readonly number[],
): number {
  if (clickTsMs === undefined || clickTsMs === null || !Number.isFinite(clickTsMs)) return 0;
  return ageBucket(requestTsMs - clickTsMs, boundaries);
}

function writeTags(
  spec: FeatureSpec,
  tags: readonly string[] | null | undefined,
  out: BigInt64Array,
  offset: number,
  h: Hasher,
): void {
  let k = 0;
  for (const t of tags ?? []) {
    if (k >= TAG_SLOTS) break;
    if (!t) continue;
    out[offset + k] = BigInt(h.bucket(spec.tags.field, t, spec.tags.buckets));
    k++;
  }
}

function writeVector(
  vec: ArrayLike<number> | null | undefined,
  out: Float32Array,
  offset: number,
  dim: number,
): void {
  if (!vec) return;
  const n = Math.min(vec.length, dim);
  for (let i = 0; i < n; i++) out[offset + i] = vec[i]!;
}

export function encodeUser(spec: FeatureSpec, user: RawUser, h: Hasher = defaultHasher): EncodedUser {
  const L = spec.history.length;
  const D = spec.multimodal.dim;
  const values: Record<string, string> = {
    user_id: user.user_id ?? '',
    device: user.device ?? '',
    placement: user.placement ?? '',
    country: user.country ?? '',
    hour_of_day: hourOfDay(user.ts_ms),
  };
  const userFields = new BigInt64Array(spec.user_fields.length);
  spec.user_fields.forEach((f, i) => {
    userFields[i] = BigInt(h.bucket(f.name, values[f.name], f.buckets));
  });
  const itemBuckets = field(spec.candidate_fields, 'item_id').buckets;
  const catBuckets = field(spec.candidate_fields, 'category').buckets;
  const histIds = new BigInt64Array(L);
  const histTags = new BigInt64Array(L * TAG_SLOTS);
  const histCat = new BigInt64Array(L);
  const histMm = new Float32Array(L * D);
  const histAge = new BigInt64Array(L);
  const boundaries = spec.history.age?.boundaries_ms;
  const hist = user.history ?? [];
  for (let i = 0; i < Math.min(L, hist.length); i++) {
    const it = hist[i]!;
    histIds[i] = BigInt(h.bucket('item_id', it.item_id, itemBuckets));
    histCat[i] = BigInt(h.bucket('category', it.category, catBuckets));
    writeTags(spec, it.tags, histTags, i * TAG_SLOTS, h);
    writeVector(it.mm, histMm, i * D, D);
    if (boundaries) histAge[i] = BigInt(clickAgeBucket(user.ts_ms, it.ts_ms, boundaries));
  }
  return { userFields, histIds, histTags, histCat, histMm, histAge };
}

export function encodeCandidates(
  spec: FeatureSpec,
  candidates: readonly RawCandidate[],
  h: Hasher = defaultHasher,
): EncodedCandidates {
  const B = candidates.length;
  const C = spec.candidate_fields.length;
  const D = spec.multimodal.dim;
  const candFields = new BigInt64Array(B * C);
  const candTags = new BigInt64Array(B * TAG_SLOTS);
  const candMm = new Float32Array(B * D);
  candidates.forEach((c, b) => {
    encodeCandidate(spec, c, h, { candFields, candTags, candMm, index: b });
  });
  return { batch: B, candFields, candTags, candMm };
}

/** One candidate, written at row `into.index` of preallocated batch arrays (or fresh arrays of batch 1). */
export function encodeCandidate(
  spec: FeatureSpec,
  c: RawCandidate,
  h: Hasher = defaultHasher,
  into?: { candFields: BigInt64Array; candTags: BigInt64Array; candMm: Float32Array; index: number },
): EncodedCandidates {
  const C = spec.candidate_fields.length;
  const D = spec.multimodal.dim;
  const out = into ?? {
    candFields: new BigInt64Array(C),
    candTags: new BigInt64Array(TAG_SLOTS),
    candMm: new Float32Array(D),
    index: 0,
  };
  const b = out.index;
  spec.candidate_fields.forEach((f, i) => {
    let v: string;
    if (f.name === 'item_id') v = c.item_id ?? '';
    else if (f.name === 'category') v = c.category ?? '';
    else v = positionValue(c.position, f.clip);
    out.candFields[b * C + i] = BigInt(h.bucket(f.name, v, f.buckets));
  });
  writeTags(spec, c.tags, out.candTags, b * TAG_SLOTS, h);
  writeVector(c.mm, out.candMm, b * D, D);
  return {
    batch: out.candFields.length / C,
    candFields: out.candFields,
    candTags: out.candTags,
    candMm: out.candMm,
  };
}
