import {
  aggregationOp,
  durationMs,
  type Aggregation,
  type AttributeValue,
  type FeatureRepo,
} from '@mmctr/feature-repo';
import { tierFor } from './buckets';

/** One element of an aggregation key, read from an event. */
export interface KeyPart {
  /** The event field holding the entity's key. */
  readonly eventKey: string;
  /** An attribute of that entity, read from its online hash; absent when the part is the key itself. */
  readonly lookup?: { readonly entity: string; readonly attribute: string; readonly fallback: string };
}

export interface Tier {
  readonly bucketMs: number;
  readonly upToMs: number;
}

/** A count or sum aggregation as ingest applies it. */
export interface CountedAggregation {
  readonly name: string;
  /** The key's declaration (`user+item.category`): aggregations with the same one share counter hashes. */
  readonly spec: string;
  readonly parts: readonly KeyPart[];
  readonly source: string;
  readonly filter: readonly (readonly [string, AttributeValue])[];
  /** The summed attribute; absent for a count. */
  readonly sum?: string;
  /** The tiers some window of the aggregation reads. */
  readonly tiers: readonly Tier[];
}

/** Expiry horizons of one key declaration's counters (see expiry in docs/features.md). */
export interface SpecLayout {
  /** Per bucket width, the longest up_to of its tiers: a bucket expires at start + 2 × width + that. */
  readonly upToByBucket: ReadonlyMap<number, number>;
  /** The widest bucket: the redelivery markers are kept per bucket of this width... */
  readonly markerBucketMs: number;
  /** ...until its end plus this (every counter an event of that bucket touched has expired by then). */
  readonly markerHorizonMs: number;
}

export interface CounterLayout {
  readonly aggregations: readonly CountedAggregation[];
  readonly specs: ReadonlyMap<string, SpecLayout>;
}

/** How a looked-up attribute value is written into a key (and the type's zero when the entity is unknown). */
export const keyText = (v: AttributeValue | undefined): string =>
  v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);

function keyParts(repo: FeatureRepo, a: Aggregation): KeyPart[] {
  const keyOf = (entity: string) => repo.entities.find((e) => e.name === entity)!;
  return a.key.map((part) => {
    const [entity, attribute] = part.split('.') as [string, string | undefined];
    const e = keyOf(entity);
    if (attribute === undefined || attribute === e.key) return { eventKey: e.key };
    const declared = e.attributes?.find((x) => x.name === attribute);
    const zero = declared?.type === 'int' ? 0 : declared?.type === 'bool' ? false : '';
    return { eventKey: e.key, lookup: { entity, attribute, fallback: keyText(declared?.default ?? zero) } };
  });
}

function countedAggregation(repo: FeatureRepo, a: Aggregation, op: 'count' | 'sum'): CountedAggregation {
  const granularity = a.granularity ?? [];
  const tiers = new Map<string, Tier>();
  for (const w of a.windows) {
    const t = tierFor(durationMs(w), granularity);
    tiers.set(t.up_to, { bucketMs: durationMs(t.bucket), upToMs: durationMs(t.up_to) });
  }
  return {
    name: a.name,
    spec: a.key.join('+'),
    parts: keyParts(repo, a),
    source: a.source!,
    filter: Object.entries(a.filter ?? {}),
    ...(op === 'sum' ? { sum: (a.op as { sum: string }).sum } : {}),
    tiers: [...tiers.values()],
  };
}

/** The counters of a (valid) repository's count and sum aggregations; ratios read those. */
export function counterLayout(repo: FeatureRepo): CounterLayout {
  const aggregations: CountedAggregation[] = [];
  for (const a of repo.aggregations ?? []) {
    const op = aggregationOp(a);
    if (op === 'count' || op === 'sum') aggregations.push(countedAggregation(repo, a, op));
  }
  const specs = new Map<string, SpecLayout>();
  for (const spec of new Set(aggregations.map((a) => a.spec))) {
    const tiers = aggregations.filter((a) => a.spec === spec).flatMap((a) => a.tiers);
    const upToByBucket = new Map<number, number>();
    for (const t of tiers)
      upToByBucket.set(t.bucketMs, Math.max(upToByBucket.get(t.bucketMs) ?? 0, t.upToMs));
    const markerBucketMs = Math.max(...tiers.map((t) => t.bucketMs));
    // A counter an event of marker bucket [m, m + B) touches starts before m + B and expires at most
    // 2b + up_to after its start (b <= B): the marker expires at m + B + 2B + up_to, after all of them.
    const markerHorizonMs = 2 * markerBucketMs + Math.max(...tiers.map((t) => t.upToMs));
    specs.set(spec, { upToByBucket, markerBucketMs, markerHorizonMs });
  }
  return { aggregations, specs };
}
