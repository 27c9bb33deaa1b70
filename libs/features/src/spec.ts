import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FieldSpec {
  name: string;
  buckets: number;
  clip?: [number, number];
  derived?: string;
}

/** history.age (fs-2): each history click's age, bucketed by `boundaries_ms`; fed as hist_age [1, L]. */
export interface HistoryAgeSpec {
  field: string;
  /** Strictly increasing positive integers; bucket = 1 + count of boundaries <= age (0 = no click). */
  boundaries_ms: number[];
  formula?: string;
  source?: string;
  [k: string]: unknown;
}

/**
 * feature_spec.json: the field lists the trainer's artifacts carried before feature repositories (model
 * inputs now follow the running repository's layout; see encode.ts).
 */
export interface FeatureSpec {
  version: string;
  user_fields: FieldSpec[];
  candidate_fields: FieldSpec[];
  tags: { field: string; max: number; buckets: number };
  history: { length: number; order?: string; age?: HistoryAgeSpec; [k: string]: unknown };
  multimodal: { dim: number; projection_version?: string; [k: string]: unknown };
  label?: { attribution_window_ms: number };
  [k: string]: unknown;
}

/** The spec in this package; a model artifact carries its own copy (older ones may be fs-1). */
export const DEFAULT_FEATURE_SPEC_PATH = join(__dirname, '..', 'feature_spec.json');

function checkFields(kind: string, fields: FieldSpec[]): void {
  if (!Array.isArray(fields) || fields.length === 0) {
    throw new Error(`feature spec: ${kind} must be a non-empty array`);
  }
  for (const f of fields) {
    if (typeof f.name !== 'string' || f.name === '') {
      throw new Error(`feature spec: ${kind} has a field without a name`);
    }
    if (!Number.isSafeInteger(f.buckets) || f.buckets < 2) {
      throw new Error(`feature spec: ${f.name}.buckets must be an integer >= 2`);
    }
  }
}

function checkAge(age: HistoryAgeSpec): void {
  if (!age || typeof age !== 'object' || typeof age.field !== 'string' || age.field === '') {
    throw new Error('feature spec: history.age.field must be a non-empty string');
  }
  const b: unknown = age.boundaries_ms;
  if (!Array.isArray(b) || b.length === 0) {
    throw new Error('feature spec: history.age.boundaries_ms must be a non-empty array');
  }
  b.forEach((v: unknown, i) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw new Error(
        `feature spec: history.age.boundaries_ms[${i}] must be a positive integer, got ${String(v)}`,
      );
    }
    if (i > 0 && v <= (b[i - 1] as number)) {
      throw new Error(
        `feature spec: history.age.boundaries_ms must be strictly increasing (${String(b[i - 1])} then ${v} at ${i})`,
      );
    }
  });
}

/** Rows of the history age table: 0 (no click) plus one per bucket; 0 when the spec has no age (fs-1). */
export function historyAgeBuckets(spec: FeatureSpec): number {
  const b = spec.history.age?.boundaries_ms;
  return b ? b.length + 2 : 0;
}

export function parseFeatureSpec(raw: unknown): FeatureSpec {
  const spec = raw as FeatureSpec;
  if (!spec || typeof spec.version !== 'string' || spec.version === '') {
    throw new Error('feature spec: version missing');
  }
  checkFields('user_fields', spec.user_fields ?? []);
  checkFields('candidate_fields', spec.candidate_fields ?? []);
  if (!spec.tags || !Number.isInteger(spec.tags.max) || spec.tags.max < 1 || !(spec.tags.buckets >= 2)) {
    throw new Error('feature spec: tags must have a positive integer max and buckets >= 2');
  }
  if (!spec.history || !Number.isInteger(spec.history.length) || spec.history.length < 1) {
    throw new Error('feature spec: history.length must be a positive integer');
  }
  if (spec.history.age !== undefined) checkAge(spec.history.age);
  if (!spec.multimodal || !Number.isInteger(spec.multimodal.dim) || spec.multimodal.dim < 1) {
    throw new Error('feature spec: multimodal.dim must be a positive integer');
  }
  return spec;
}

export function loadFeatureSpec(path: string = DEFAULT_FEATURE_SPEC_PATH): FeatureSpec {
  return parseFeatureSpec(JSON.parse(readFileSync(path, 'utf8')));
}
