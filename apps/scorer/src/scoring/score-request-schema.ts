import eventContract from '@mmctr/contracts/src/schemas/event.v1.schema.json';
import type { Attribute, AttributeType, ContextAttribute, FeatureRepo } from '@mmctr/feature-repo';

/** Top-level properties of every request; a request-scope attribute of the same name goes under `context` only. */
export const ENVELOPE = ['request_id', 'user_id', 'ts_ms', 'context', 'candidates'] as const;

/** A JSON Schema object (what ajv compiles and the OpenAPI document publishes). */
export type JsonSchema = Record<string, unknown>;

/** Bounds the score log needs beyond an attribute's type, by attribute name. */
export interface RecordedLimits {
  request: Readonly<Record<string, JsonSchema>>;
  candidate: Readonly<Record<string, JsonSchema>>;
}

/**
 * What the score log can record: request attributes go into its contract's `context` (the event
 * contract's lengths), each candidate's `position` into score_log.positions, an Array(UInt16).
 */
export const SCORE_LOG_LIMITS: RecordedLimits = {
  request: eventContract.properties.context.properties,
  candidate: { position: { minimum: 0, maximum: 65535 } },
};

const SAFE = Number.MAX_SAFE_INTEGER;

const defined = (s: JsonSchema): JsonSchema =>
  Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined));

/** The JSON Schema of one attribute's value: its type and the constraints it declares. */
export function attributeSchema(a: Attribute): JsonSchema {
  const by: Record<AttributeType, () => JsonSchema> = {
    string: () => ({ type: 'string', minLength: a.min_length, maxLength: a.max_length }),
    // A safe integer: larger ones would not survive JSON -> double -> the feature hash unchanged.
    int: () => ({ type: 'integer', minimum: a.min ?? -SAFE, maximum: a.max ?? SAFE }),
    float: () => ({ type: 'number', minimum: a.min, maximum: a.max }),
    bool: () => ({ type: 'boolean' }),
    string_list: () => ({
      type: 'array',
      maxItems: a.max_length,
      items: defined({ type: 'string', minLength: a.element_min_length, maxLength: a.element_max_length }),
    }),
  };
  return defined({ ...by[a.type](), description: a.description });
}

const UPPER = ['maxLength', 'maximum', 'maxItems'];
const LOWER = ['minLength', 'minimum', 'minItems'];

/** `schema` narrowed by `limits`: of two bounds on the same keyword, the stricter one holds. */
function narrowed(schema: JsonSchema, limits: JsonSchema | undefined): JsonSchema {
  const out = { ...schema };
  for (const [k, v] of Object.entries(limits ?? {})) {
    const had = out[k];
    if (typeof had !== 'number' || typeof v !== 'number') out[k] ??= v;
    else if (UPPER.includes(k)) out[k] = Math.min(had, v);
    else if (LOWER.includes(k)) out[k] = Math.max(had, v);
  }
  return out;
}

function attributeProperties(
  attrs: readonly ContextAttribute[],
  limits: Readonly<Record<string, JsonSchema>>,
  withDefault: boolean,
): Record<string, JsonSchema> {
  return Object.fromEntries(
    attrs.map((a) => [
      a.name,
      {
        ...narrowed(attributeSchema(a), limits[a.name]),
        ...(withDefault && !a.required ? { default: a.default ?? zeroOf(a.type) } : {}),
      },
    ]),
  );
}

/** The value an optional attribute without a declared default takes. */
export function zeroOf(type: AttributeType): string | number | boolean | string[] {
  return { string: '', int: 0, float: 0, bool: false, string_list: [] as string[] }[type];
}

/** `additionalProperties` of the request's objects under the repository's policy for unknown attributes. */
function unknownPolicy(repo: FeatureRepo): JsonSchema {
  // keep: accepted and ignored; drop: removed by the validator (ajv removeAdditional); reject: 400.
  return repo.unknown_attributes === 'keep' ? {} : { additionalProperties: false };
}

/**
 * JSON Schema of the request body, from the running repository: request-scope context attributes at
 * the top level or under `context`, candidate-scope ones on each candidate. A required request-scope
 * attribute may be in either place, so the validator checks it (the schema cannot say "one of two").
 */
export function scoreRequestSchema(
  repo: FeatureRepo,
  maxCandidates: number,
  limits: RecordedLimits = SCORE_LOG_LIMITS,
): JsonSchema {
  const id = { type: 'string', minLength: 1, maxLength: 128 } as const;
  const requestAttrs = repo.context.attributes.filter((a) => a.scope === 'request');
  const candidateAttrs = repo.context.attributes.filter((a) => a.scope === 'candidate');
  const context = attributeProperties(requestAttrs, limits.request, true);
  const topLevel = Object.fromEntries(
    Object.entries(context).filter(([name]) => !(ENVELOPE as readonly string[]).includes(name)),
  );
  const requiredCandidate = candidateAttrs.filter((a) => a.required).map((a) => a.name);
  return {
    type: 'object',
    ...unknownPolicy(repo),
    required: ['user_id', 'candidates'],
    properties: {
      request_id: { ...id, description: 'Echoed back; generated when absent' },
      user_id: id,
      ts_ms: {
        type: 'integer',
        minimum: 946684800000,
        maximum: 4102444800000,
        description:
          'Request time in ms since the epoch, for time features and to cut the history at; defaults to now (replays and backtests pass the original time)',
      },
      ...topLevel,
      context: {
        type: 'object',
        ...unknownPolicy(repo),
        description: `Request attributes of feature repository ${repo.name} ${repo.version}; each may instead be given at the top level`,
        properties: context,
      },
      candidates: {
        type: 'array',
        minItems: 1,
        maxItems: maxCandidates,
        items: {
          type: 'object',
          ...unknownPolicy(repo),
          required: ['item_id', ...requiredCandidate],
          properties: { item_id: id, ...attributeProperties(candidateAttrs, limits.candidate, false) },
        },
      },
    },
  };
}
