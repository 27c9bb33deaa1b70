import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const TAG_SLOTS = 5;

export interface FieldSpec {
  name: string;
  buckets: number;
  clip?: [number, number];
  derived?: string;
}

/** feature_spec.json: the single source of truth shared with the Python trainer. */
export interface FeatureSpec {
  version: string;
  user_fields: FieldSpec[];
  candidate_fields: FieldSpec[];
  tags: { field: string; max: number; buckets: number };
  history: { length: number; order?: string; [k: string]: unknown };
  multimodal: { dim: number; projection_version?: string; [k: string]: unknown };
  label?: { attribution_window_ms: number };
  [k: string]: unknown;
}

const USER_FIELDS = ['user_id', 'device', 'placement', 'country', 'hour_of_day'];
const CANDIDATE_FIELDS = ['item_id', 'category', 'position'];

/** The spec in this package (fs-1); a model artifact carries its own copy. */
export const DEFAULT_FEATURE_SPEC_PATH = join(__dirname, '..', 'feature_spec.json');

function checkFields(kind: string, fields: FieldSpec[], expected: string[]): void {
  const names = fields.map((f) => f.name);
  if (names.join(',') !== expected.join(',')) {
    throw new Error(`feature spec: ${kind} must be [${expected.join(', ')}], got [${names.join(', ')}]`);
  }
  for (const f of fields) {
    if (!Number.isSafeInteger(f.buckets) || f.buckets < 2) {
      throw new Error(`feature spec: ${f.name}.buckets must be an integer >= 2`);
    }
  }
}

export function parseFeatureSpec(raw: unknown): FeatureSpec {
  const spec = raw as FeatureSpec;
  if (!spec || typeof spec.version !== 'string' || spec.version === '') {
    throw new Error('feature spec: version missing');
  }
  checkFields('user_fields', spec.user_fields ?? [], USER_FIELDS);
  checkFields('candidate_fields', spec.candidate_fields ?? [], CANDIDATE_FIELDS);
  if (!spec.tags || spec.tags.max !== TAG_SLOTS || !(spec.tags.buckets >= 2)) {
    throw new Error(`feature spec: tags must have max ${TAG_SLOTS} and buckets >= 2`);
  }
  if (!spec.history || !Number.isInteger(spec.history.length) || spec.history.length < 1) {
    throw new Error('feature spec: history.length must be a positive integer');
  }
  if (!spec.multimodal || !Number.isInteger(spec.multimodal.dim) || spec.multimodal.dim < 1) {
    throw new Error('feature spec: multimodal.dim must be a positive integer');
  }
  return spec;
}

export function loadFeatureSpec(path: string = DEFAULT_FEATURE_SPEC_PATH): FeatureSpec {
  return parseFeatureSpec(JSON.parse(readFileSync(path, 'utf8')));
}
