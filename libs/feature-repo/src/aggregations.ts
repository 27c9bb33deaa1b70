import { quote } from './paths';
import type { Aggregation, AttributeType, FeatureRepo, GranularityTier } from './types';

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Milliseconds of a duration (`90m`, `24h`, `7d`); the schema pattern guarantees the shape. */
export function durationMs(d: string): number {
  const m = /^([1-9][0-9]{0,5})([mhd])$/.exec(d);
  if (!m) throw new Error(`invalid duration '${d}' (expected <n>m, <n>h or <n>d)`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

export type AggregationOpName = 'count' | 'sum' | 'ratio';

/** `count`, `sum` or `ratio`; undefined for an op object naming neither or both of sum / ratio. */
export function aggregationOp(a: Pick<Aggregation, 'op'>): AggregationOpName | undefined {
  const op = a.op;
  if (typeof op === 'string') return op === 'count' ? 'count' : undefined;
  const kinds = (['sum', 'ratio'] as const).filter((k) => k in op);
  return kinds.length === 1 ? kinds[0] : undefined;
}

/** What the repository's semantic checks lend these ones (same wording everywhere). */
export interface AggregationCheckHelpers {
  err(path: string, msg: string): void;
  duplicates(path: string, list: readonly { name: string }[] | undefined): void;
  checkTransform(path: string, t: Pick<Aggregation, 'transform' | 'clip' | 'boundaries'>): void;
  resolve(ref: string): { type: AttributeType } | undefined;
  valueMatches(type: AttributeType, v: unknown): boolean;
}

/** Cross-reference checks of `aggregations`; the Python twin is mmctr_trainer/aggregates.py. */
export function checkAggregations(repo: FeatureRepo, h: AggregationCheckHelpers): void {
  const list = repo.aggregations ?? [];
  h.duplicates('aggregations', list);
  const byName = new Map<string, Aggregation>();
  for (const a of list) if (!byName.has(a.name)) byName.set(a.name, a);
  for (const a of list) {
    const p = `aggregations.${a.name}`;
    const op = aggregationOp(a);
    if (op === undefined) h.err(`${p}.op`, "needs exactly one of 'sum', 'ratio'");
    else if (op === 'ratio') checkRatio(p, a, byName, h);
    else checkCounted(repo, p, a, op, h);
    if (typeof a.op === 'object' && 'smoothing' in a.op && op !== 'ratio')
      h.err(`${p}.op.smoothing`, "only used by op 'ratio'");
    if (a.default !== undefined && op !== 'ratio') h.err(`${p}.default`, "only used by op 'ratio'");
    h.checkTransform(p, a);
  }
}

function checkRatio(
  p: string,
  a: Aggregation,
  byName: ReadonlyMap<string, Aggregation>,
  h: AggregationCheckHelpers,
): void {
  for (const key of ['source', 'filter', 'granularity'] as const) {
    if (a[key] !== undefined) h.err(`${p}.${key}`, "not used by op 'ratio'");
  }
  const parts = (a.op as { ratio: readonly string[] }).ratio;
  parts.forEach((name, i) => {
    const other = byName.get(name);
    if (!other) return h.err(`${p}.op.ratio[${i}]`, `unknown aggregation '${name}'`);
    if (aggregationOp(other) === 'ratio')
      return h.err(`${p}.op.ratio[${i}]`, `aggregation '${name}' is a ratio`);
    if (JSON.stringify(other.key) !== JSON.stringify(a.key)) {
      h.err(`${p}.op.ratio[${i}]`, `aggregation '${name}' has key ${quote(other.key)}, not ${quote(a.key)}`);
    }
    a.windows.forEach((w, j) => {
      if (!other.windows.includes(w))
        h.err(`${p}.windows[${j}]`, `'${w}' is not a window of aggregation '${name}'`);
    });
  });
}

function checkCounted(
  repo: FeatureRepo,
  p: string,
  a: Aggregation,
  op: 'count' | 'sum',
  h: AggregationCheckHelpers,
): void {
  if (a.granularity === undefined) h.err(`${p}.granularity`, `required by op '${op}'`);
  else checkWindows(p, a, h);
  if (a.source === undefined) return h.err(`${p}.source`, `required by op '${op}'`);
  const ev = repo.event_types.find((t) => t.name === a.source);
  if (!ev) return h.err(`${p}.source`, `unknown event type '${a.source}'`);
  checkKey(repo, p, a.key, ev, h);
  for (const [attr, value] of Object.entries(a.filter ?? {})) {
    const ref = `${ev.name}.${attr}`;
    const r = h.resolve(ref);
    if (!r) h.err(`${p}.filter.${attr}`, `unknown attribute '${ref}'`);
    else if (r.type === 'string_list')
      h.err(`${p}.filter.${attr}`, 'cannot filter on a string_list attribute');
    else if (!h.valueMatches(r.type, value))
      h.err(`${p}.filter.${attr}`, `${quote(value)} is not a ${r.type}`);
  }
  if (op === 'sum') {
    const ref = `${ev.name}.${(a.op as { sum: string }).sum}`;
    const r = h.resolve(ref);
    if (!r) h.err(`${p}.op.sum`, `unknown attribute '${ref}'`);
    else if (r.type !== 'int' && r.type !== 'float') {
      h.err(`${p}.op.sum`, `needs an int or float attribute, '${ref}' is ${r.type}`);
    }
  }
}

/** `[entity]` the event carries, optionally `, "other_entity.attribute"` of another entity it carries. */
function checkKey(
  repo: FeatureRepo,
  p: string,
  key: readonly string[],
  ev: { name: string; entities: readonly string[] },
  h: AggregationCheckHelpers,
): void {
  const carried = (path: string, entity: string): boolean => {
    if (!repo.entities.some((e) => e.name === entity)) h.err(path, `unknown entity '${entity}'`);
    else if (!ev.entities.includes(entity))
      h.err(path, `event type '${ev.name}' does not carry entity '${entity}'`);
    else return true;
    return false;
  };
  const [first, second] = key as [string, string | undefined];
  if (first.includes('.')) h.err(`${p}.key[0]`, 'must name an entity, not an attribute');
  else carried(`${p}.key[0]`, first);
  if (second === undefined) return;
  const [entity, attr] = second.split('.') as [string, string | undefined];
  if (attr === undefined)
    return h.err(`${p}.key[1]`, 'must be an attribute of another entity (entity.attribute)');
  if (entity === first) return h.err(`${p}.key[1]`, `must be an attribute of another entity than '${first}'`);
  if (!carried(`${p}.key[1]`, entity)) return;
  const r = h.resolve(second);
  if (!r) h.err(`${p}.key[1]`, `unknown attribute '${second}'`);
  else if (r.type === 'float' || r.type === 'string_list') {
    h.err(`${p}.key[1]`, `a key cannot be a ${r.type} attribute ('${second}')`);
  }
}

/** Tiers grow; each tier's bucket divides its up_to; each window fits a tier, in whole buckets. */
function checkWindows(p: string, a: Aggregation, h: AggregationCheckHelpers): void {
  const tiers = a.granularity ?? [];
  tiers.forEach((t, i) => {
    if (durationMs(t.up_to) % durationMs(t.bucket) !== 0) {
      h.err(`${p}.granularity[${i}].bucket`, `'${t.bucket}' does not divide up_to '${t.up_to}'`);
    }
    const prev = tiers[i - 1];
    if (prev && durationMs(t.up_to) <= durationMs(prev.up_to)) {
      h.err(`${p}.granularity[${i}].up_to`, "must be longer than the previous tier's");
    }
  });
  const seen = new Set<number>();
  a.windows.forEach((w, i) => {
    const ms = durationMs(w);
    if (seen.has(ms)) return h.err(`${p}.windows[${i}]`, `duplicate window '${w}'`);
    seen.add(ms);
    const tier = tiers.find((t) => durationMs(t.up_to) >= ms);
    if (!tier) {
      const longest = tiers.reduce<GranularityTier | undefined>(
        (m, t) => (m && durationMs(m.up_to) >= durationMs(t.up_to) ? m : t),
        undefined,
      );
      if (longest) {
        h.err(
          `${p}.windows[${i}]`,
          `'${w}' is longer than every granularity tier (longest up_to '${longest.up_to}')`,
        );
      }
    } else if (ms % durationMs(tier.bucket) !== 0) {
      h.err(`${p}.windows[${i}]`, `'${w}' is not a whole number of '${tier.bucket}' buckets`);
    }
  });
}
