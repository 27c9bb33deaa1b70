import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { decodeUtf8, findIllFormedString } from '@mmctr/contracts';
import type { AttributeValue, ContextAttribute, FeatureRepo } from '@mmctr/feature-repo';
import { ENVELOPE, scoreRequestSchema, zeroOf, type JsonSchema } from './score-request-schema';

const ENVELOPE_NAMES: ReadonlySet<string> = new Set(ENVELOPE);
const SAFE = Number.MAX_SAFE_INTEGER;

/** Request-scope context attributes of the running feature repository, each with its value or its default. */
export interface ScoreContext {
  [name: string]: AttributeValue | undefined;
}

/** A candidate: its item and the candidate-scope attributes given for it (the demo: position). */
export interface ScoreCandidate {
  item_id: string;
  position?: number;
  [name: string]: AttributeValue | undefined;
}

export interface ScoreRequest {
  request_id?: string;
  user_id: string;
  /** Request time; defaults to now. Replays and backtests pass the original time. */
  ts_ms?: number;
  context?: ScoreContext;
  candidates: ScoreCandidate[];
}

export interface ScoreResponse {
  request_id: string;
  model_version: string;
  scores: { item_id: string; ctr: number }[];
  degraded: boolean;
}

export const scoreResponseSchema = {
  type: 'object',
  required: ['request_id', 'model_version', 'scores', 'degraded'],
  properties: {
    request_id: { type: 'string' },
    model_version: { type: 'string' },
    scores: {
      type: 'array',
      items: {
        type: 'object',
        required: ['item_id', 'ctr'],
        properties: { item_id: { type: 'string' }, ctr: { type: 'number', minimum: 0, maximum: 1 } },
      },
    },
    degraded: { type: 'boolean', description: 'True when history or item features were unavailable' },
  },
} as const;

/**
 * Bodies parsed from text with no surrogate escape: valid UTF-8 never encodes a lone surrogate, so
 * only a `\uD800`-style escape can put one in a parsed string. The validator skips its walk over
 * every string for them (at 500 candidates the walk cost more than JSON.parse and allocated ~0.3 MB).
 */
const wellFormedBodies = new WeakSet<object>();
/** A surrogate escape in JSON text (an escaped backslash before `uD8..` matches too: that body is walked). */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

type Checked = { ok: true; value: ScoreRequest } | { ok: false; message: string };
type Body = Omit<ScoreRequest, 'context'> & { context?: Record<string, unknown>; [name: string]: unknown };

/** A value as error messages show it: its JSON type, then the value (strings quoted, clipped). */
function shown(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'object';
  const text = JSON.stringify(v);
  return `${typeof v} ${text.length > 40 ? `${text.slice(0, 37)}...` : text}`;
}

/** The value at an ajv instance path (`/candidates/0/position`). */
function valueAt(body: unknown, segments: string[]): unknown {
  let node = body;
  for (const seg of segments) node = (node as Record<string, unknown> | undefined)?.[seg];
  return node;
}

/**
 * Compiled request validator for the running feature repository: the request with its context
 * resolved (request-scope attributes from the top level or `context`, defaults filled in), or the
 * first problem as a message that names it.
 */
export class ScoreRequestValidator {
  private readonly fn: ValidateFunction<Body>;
  private readonly requestAttrs: readonly ContextAttribute[];
  /** Context attribute of each name, to word type errors in the repository's types. */
  private readonly attrs: ReadonlyMap<string, ContextAttribute>;
  /** The JSON Schema it compiled (published in the OpenAPI document). */
  readonly schema: JsonSchema;

  constructor(repo: FeatureRepo, maxCandidates: number) {
    this.schema = scoreRequestSchema(repo, maxCandidates);
    const ajv = new Ajv({
      allErrors: false,
      strict: true,
      removeAdditional: repo.unknown_attributes === 'drop',
    });
    this.fn = ajv.compile<Body>(this.schema);
    this.requestAttrs = repo.context.attributes.filter((a) => a.scope === 'request');
    this.attrs = new Map(repo.context.attributes.map((a) => [a.name, a]));
  }

  validate(body: unknown): Checked {
    // Ids are looked up and logged byte for byte: a lone surrogate would be rewritten to U+FFFD on the
    // way to Redis and the score log, so it is refused here, naming the field.
    const illFormed = wellFormedBodies.has(body as object) ? undefined : findIllFormedString(body);
    if (illFormed) return { ok: false, message: illFormed.replace('(root)', 'body') };
    if (!this.fn(body)) return { ok: false, message: this.describe(body, this.fn.errors?.[0]) };
    const context: ScoreContext = {};
    for (const a of this.requestAttrs) {
      const top = ENVELOPE_NAMES.has(a.name) ? undefined : body[a.name];
      const nested = body.context?.[a.name];
      if (top !== undefined && nested !== undefined) {
        return {
          ok: false,
          message: `attribute '${a.name}' is given both at the top level and under context`,
        };
      }
      const value = (top ?? nested) as AttributeValue | undefined;
      if (value === undefined && a.required) {
        return {
          ok: false,
          message: `attribute '${a.name}' is required (at the top level or under context)`,
        };
      }
      context[a.name] = value ?? a.default ?? zeroOf(a.type);
    }
    const { request_id, user_id, ts_ms, candidates } = body;
    return { ok: true, value: { request_id, user_id, ts_ms, context, candidates } };
  }

  /** ajv's first error; a type error on a context attribute also names it and its repository type. */
  private describe(body: unknown, e: ErrorObject | undefined): string {
    if (!e) return 'invalid request';
    const where = e.instancePath || 'body';
    if (e.keyword === 'additionalProperties') {
      return `${where} has unknown property '${String((e.params as { additionalProperty: string }).additionalProperty)}'`;
    }
    const problem = `${where} ${e.message ?? e.keyword}`;
    const segments = e.instancePath.split('/').slice(1);
    const found = this.attributeAt(segments);
    if (!found) return problem;
    const { attr, depth } = found;
    // An int beyond the safe range fails the schema's bound, not its type: the same mistake for the caller.
    const unsafeInt =
      attr.type === 'int' && Math.abs(Number((e.params as { limit?: unknown }).limit)) === SAFE;
    if (e.keyword !== 'type' && !unsafeInt) return problem;
    const value = valueAt(body, segments.slice(0, depth));
    return `${problem}: attribute '${attr.name}' expects ${attr.type}, got ${shown(value)}`;
  }

  /** The context attribute an instance path is in, and the path length of its value. */
  private attributeAt(seg: string[]): { attr: ContextAttribute; depth: number } | undefined {
    const at = (name: string | undefined, depth: number) => {
      const attr = name === undefined ? undefined : this.attrs.get(name);
      return attr ? { attr, depth } : undefined;
    };
    if (seg[0] === 'context') return at(seg[1], 2);
    if (seg[0] === 'candidates') return at(seg[2], 3);
    return ENVELOPE_NAMES.has(seg[0] ?? '') ? undefined : at(seg[0], 1);
  }
}

/**
 * Parses a JSON request body from its bytes: invalid UTF-8 is an error naming the offset (the default
 * parser would replace it with U+FFFD, so distinct ids could meet), never rewritten.
 */
export function parseJsonBody(raw: Buffer): { ok: true; value: unknown } | { ok: false; message: string } {
  const text = decodeUtf8(raw);
  if (!text.ok) return { ok: false, message: `body is not valid UTF-8: ${text.reason}` };
  let value: unknown;
  try {
    value = JSON.parse(text.text) as unknown;
  } catch (err) {
    return { ok: false, message: `body is not JSON: ${(err as Error).message}` };
  }
  if (typeof value === 'object' && value !== null && !SURROGATE_ESCAPE.test(text.text))
    wellFormedBodies.add(value);
  return { ok: true, value };
}
