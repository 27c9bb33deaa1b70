/** The shape of a feature repository (feature-repo.v1.schema.json), as the loaders return it (frozen). */
export type AttributeType = 'string' | 'int' | 'float' | 'bool' | 'string_list';
export type AttributeValue = string | number | boolean | readonly string[];

export interface Attribute {
  readonly name: string;
  readonly type: AttributeType;
  readonly required?: boolean;
  readonly default?: AttributeValue;
  /** string: most characters (code points); string_list: most elements. */
  readonly max_length?: number;
  /** string: fewest characters (code points). */
  readonly min_length?: number;
  /** string_list: fewest / most characters of each element. */
  readonly element_min_length?: number;
  readonly element_max_length?: number;
  /** int, float: inclusive bounds. */
  readonly min?: number;
  readonly max?: number;
  readonly description?: string;
}

export interface ContextAttribute extends Attribute {
  /** `request`: one value per score request; `candidate`: one per candidate item. */
  readonly scope: 'request' | 'candidate';
}

export interface Entity {
  readonly name: string;
  readonly key: string;
  readonly table?: string;
  readonly updates?: 'snapshot' | 'none';
  readonly attributes?: readonly Attribute[];
  readonly description?: string;
}

export interface EventType {
  readonly name: string;
  readonly entities: readonly string[];
  readonly attributes?: readonly Attribute[];
  readonly description?: string;
}

export interface Embedding {
  readonly name: string;
  readonly entity: string;
  readonly width: number;
  readonly inputs?: readonly string[];
  readonly description?: string;
}

interface FeatureBase {
  readonly name: string;
  readonly description?: string;
  readonly embedding_dim?: number;
}

export interface CategoricalFeature extends FeatureBase {
  readonly kind: 'categorical';
  readonly source: string;
  readonly field?: string;
  readonly encoding: 'hash' | 'vocabulary';
  readonly buckets?: number;
  readonly vocabulary?: readonly string[];
  /** Hash only: an exact vocabulary of the values seen >= min_count times in the training split (others: OOV row). */
  readonly fit?: { readonly min_count: number };
  readonly clip?: readonly [number, number];
  readonly derive?: 'hour_of_day_utc' | 'day_of_week_utc';
}

export type NumericTransform = 'none' | 'clip' | 'log1p' | 'standardize' | 'bucketize';

export interface NumericFeature extends FeatureBase {
  readonly kind: 'numeric';
  readonly source: string;
  readonly transform: NumericTransform;
  readonly clip?: readonly [number, number];
  readonly stats?: { readonly mean: number; readonly std: number };
  readonly boundaries?: readonly number[];
}

export interface MultiCategoricalFeature extends FeatureBase {
  readonly kind: 'multi_categorical';
  readonly source: string;
  readonly field?: string;
  readonly buckets: number;
  readonly max_length: number;
  readonly pooling: 'mean' | 'sum' | 'max';
}

export interface SequenceFeature extends FeatureBase {
  readonly kind: 'sequence';
  readonly owner: string;
  readonly event_types: readonly string[];
  readonly target: string;
  readonly length: number;
  readonly order?: 'newest_first';
  readonly side_features: readonly string[];
  readonly age?: { readonly field: string; readonly boundaries_ms: readonly number[] };
}

export interface VectorFeature extends FeatureBase {
  readonly kind: 'vector';
  readonly embedding: string;
  readonly width: number;
}

/**
 * Windows of a declared aggregation as model inputs: one slot per window, fed the raw (untransformed) value as
 * of the request time and encoded with the aggregation's transform (see docs/features.md).
 */
export interface AggregateFeature extends FeatureBase {
  readonly kind: 'aggregate';
  readonly aggregation: string;
  /** Default: every window of the aggregation, in its declaration order. */
  readonly windows?: readonly Duration[];
}

export type Feature =
  | CategoricalFeature
  | NumericFeature
  | MultiCategoricalFeature
  | SequenceFeature
  | VectorFeature
  | AggregateFeature;

export interface Label {
  readonly anchor: string;
  readonly positive: string;
  readonly match_on?: readonly string[];
  readonly attribution_window_ms: number;
}

/** `<n>m`, `<n>h` or `<n>d` (minutes, hours, days). */
export type Duration = string;

/** `count` events, `sum` an attribute of them, or the smoothed `ratio` of two other aggregations. */
export type AggregationOp =
  | 'count'
  | { readonly sum: string }
  | { readonly ratio: readonly [string, string]; readonly smoothing?: readonly [number, number] };

export interface GranularityTier {
  /** The longest window this tier serves. */
  readonly up_to: Duration;
  /** Its bucket width; buckets are aligned to the Unix epoch. */
  readonly bucket: Duration;
}

/** A windowed aggregate over events, kept online in bucketed counters (see docs/features.md). */
export interface Aggregation {
  readonly name: string;
  /** `[entity]` or `[entity, "other_entity.attribute"]` (a composite key). */
  readonly key: readonly string[];
  /** The event type counted; absent for a ratio. */
  readonly source?: string;
  /** Only events whose attributes equal these values. */
  readonly filter?: Readonly<Record<string, string | number | boolean>>;
  readonly op: AggregationOp;
  readonly windows: readonly Duration[];
  readonly granularity?: readonly GranularityTier[];
  readonly transform?: 'none' | 'clip' | 'log1p' | 'bucketize';
  readonly clip?: readonly [number, number];
  readonly boundaries?: readonly number[];
  /** Ratio only: its value when the smoothed denominator is 0 (default 0). Empty counts and sums are 0. */
  readonly default?: number;
  readonly description?: string;
}

export interface FeatureRepo {
  readonly format: 'mmctr.feature-repo/v1';
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly hash?: { readonly algorithm: 'fnv1a64'; readonly separator: string };
  readonly unknown_attributes: 'keep' | 'drop' | 'reject';
  readonly events_table?: string;
  readonly entities: readonly Entity[];
  readonly event_types: readonly EventType[];
  readonly embeddings?: readonly Embedding[];
  readonly context: { readonly recorded_on: string; readonly attributes: readonly ContextAttribute[] };
  readonly features: readonly Feature[];
  readonly aggregations?: readonly Aggregation[];
  readonly label: Label;
}
