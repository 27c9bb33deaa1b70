// TypeScript views of the JSON Schemas in ./schemas (the schemas are the contract; these mirror them).
export const SCHEMA_VERSION = 1 as const;

export type EventType = 'impression' | 'click' | 'conversion';

export interface EventContext {
  device?: string;
  placement?: string;
  country?: string;
}

export interface BehaviourEvent {
  schema_version: typeof SCHEMA_VERSION;
  event_id: string;
  type: EventType;
  ts_ms: number;
  user_id: string;
  item_id: string;
  request_id: string;
  position?: number;
  /** Request context: under `context` or, one or the other, at the top level. */
  device?: string;
  placement?: string;
  country?: string;
  context?: EventContext;
  value?: number;
}

export interface CatalogueItem {
  schema_version: typeof SCHEMA_VERSION;
  item_id: string;
  ts_ms: number;
  title: string;
  description?: string;
  category?: string;
  tags?: string[];
  image?: string;
}

export interface ScoreLogRecord {
  schema_version: typeof SCHEMA_VERSION;
  request_id: string;
  ts_ms: number;
  user_id: string;
  model_version: string;
  feature_spec_version: string;
  shadow_model_version?: string;
  /** The repository's request-scope context attributes as used (after defaults). */
  context?: ScoreLogContext;
  history_item_ids: string[];
  /** Click times (ms) of history_item_ids, same order; absent from producers before fs-2. */
  history_ts_ms?: number[];
  item_ids: string[];
  positions: number[];
  ctrs: number[];
  shadow_ctrs?: number[];
  degraded: boolean;
  /** Per candidate (item_ids order): its candidate-scope context attributes as used. */
  candidate_context?: ScoreLogContext[];
  /** Per sequence feature: the target keys and event times used, newest first. */
  sequences?: Record<string, ScoreLogSequence>;
  /** When the layout reads aggregates: the raw window values fed to the model. */
  aggregates?: ScoreLogAggregates;
}

/** Raw aggregate window values by `<aggregation>@<window>`, as of `as_of_ms`. */
export interface ScoreLogAggregates {
  as_of_ms: number;
  user: Record<string, number>;
  /** One value per candidate, in item_ids order. */
  candidates: Record<string, number[]>;
}

/** A context attribute's value as the score log records it. */
export type ScoreLogValue = string | number | boolean | string[];

export interface ScoreLogContext extends EventContext {
  [attribute: string]: ScoreLogValue | undefined;
}

export interface ScoreLogSequence {
  keys: string[];
  ts_ms: number[];
}
