import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { decodeUtf8, findIllFormedString } from '@mmctr/contracts';

export type ScoreContext = {
  device?: string;
  placement?: string;
  country?: string;
};

export interface ScoreRequest {
  request_id?: string;
  user_id: string;
  /** Request time; defaults to now. Replays and backtests pass the original time. */
  ts_ms?: number;
  context?: ScoreContext;
  candidates: { item_id: string; position?: number }[];
}

export interface ScoreResponse {
  request_id: string;
  model_version: string;
  scores: { item_id: string; ctr: number }[];
  degraded: boolean;
}

/** JSON Schema of the request body (also published in the OpenAPI document). */
export function scoreRequestSchema(maxCandidates: number) {
  const id = { type: 'string', minLength: 1, maxLength: 128 } as const;
  return {
    type: 'object',
    additionalProperties: false,
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
      context: {
        type: 'object',
        additionalProperties: false,
        properties: {
          device: { type: 'string', maxLength: 32 },
          placement: { type: 'string', maxLength: 64 },
          country: { type: 'string', maxLength: 8 },
        },
      },
      candidates: {
        type: 'array',
        minItems: 1,
        maxItems: maxCandidates,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['item_id'],
          properties: {
            item_id: id,
            position: {
              type: 'integer',
              minimum: 0,
              maximum: 65535,
              description: 'Slot the item would be shown in; defaults to its index in the list',
            },
          },
        },
      },
    },
  } as const;
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

function describe(e: ErrorObject | undefined): string {
  if (!e) return 'invalid request';
  const where = e.instancePath || 'body';
  if (e.keyword === 'additionalProperties') {
    return `${where} has unknown property '${String((e.params as { additionalProperty: string }).additionalProperty)}'`;
  }
  return `${where} ${e.message ?? e.keyword}`;
}

/** Compiled request validator: the value or the first problem as a message. */
export class ScoreRequestValidator {
  private readonly fn: ValidateFunction<ScoreRequest>;

  constructor(maxCandidates: number) {
    const ajv = new Ajv({ allErrors: false, strict: true });
    this.fn = ajv.compile<ScoreRequest>(scoreRequestSchema(maxCandidates));
  }

  validate(body: unknown): { ok: true; value: ScoreRequest } | { ok: false; message: string } {
    // Ids are looked up and logged byte for byte: a lone surrogate would be rewritten to U+FFFD on the
    // way to Redis and the score log, so it is refused here, naming the field.
    const illFormed = findIllFormedString(body);
    if (illFormed) return { ok: false, message: illFormed.replace('(root)', 'body') };
    if (this.fn(body)) return { ok: true, value: body };
    return { ok: false, message: describe(this.fn.errors?.[0]) };
  }
}

/**
 * Parses a JSON request body from its bytes: invalid UTF-8 is an error naming the offset (the default
 * parser would replace it with U+FFFD, so distinct ids could meet), never rewritten.
 */
export function parseJsonBody(raw: Buffer): { ok: true; value: unknown } | { ok: false; message: string } {
  const text = decodeUtf8(raw);
  if (!text.ok) return { ok: false, message: `body is not valid UTF-8: ${text.reason}` };
  try {
    return { ok: true, value: JSON.parse(text.text) as unknown };
  } catch (err) {
    return { ok: false, message: `body is not JSON: ${(err as Error).message}` };
  }
}
