import { validate, validateSchema, type ScoreLogRecord } from '@mmctr/contracts';

/**
 * A score log record as handed to the score log thread: everything but the CTR arrays
 * already JSON-encoded, the CTRs as Float64Arrays. Cloning 500 strings and 500 numbers for postMessage
 * cost the thread more (deserialising) than encoding them costs here, and the CTRs, whose printing is
 * most of the encoding, stay off the request loop. The bytes sit in typed arrays, outside the JS heap:
 * a record waits here up to a flush interval, long enough to be promoted into the request loop's old
 * generation.
 */
export interface PackedScoreLog {
  /** user_id: the Kafka key. */
  key: string;
  /** UTF-8 of the record's JSON without `ctrs` / `shadow_ctrs` and without its closing brace. */
  head: Uint8Array;
  ctrs: Float64Array;
  shadowCtrs?: Float64Array;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/**
 * Packs a record on the request loop without validating it: checking the contract's JSON Schema over
 * 500 candidates cost the request loop as much as packing did, so the thread checks the encoded value
 * instead (checkScoreLogValue).
 */
export function packScoreLog(record: ScoreLogRecord): PackedScoreLog {
  const head = JSON.stringify({ ...record, ctrs: undefined, shadow_ctrs: undefined });
  const packed: PackedScoreLog = {
    key: record.user_id,
    head: utf8.encode(head.slice(0, -1)),
    ctrs: Float64Array.from(record.ctrs),
  };
  if (record.shadow_ctrs) packed.shadowCtrs = Float64Array.from(record.shadow_ctrs);
  return packed;
}

export type ValueCheck = { ok: true } | { ok: false; reason: string; request_id: unknown };

/**
 * JSON.stringify writes a lone surrogate as an escape (`\udXXX`, lower case) and never writes a
 * surrogate escape otherwise, so a value without one has no ill-formed string. (An escaped backslash
 * before `ud8..` matches too: that value just takes the full check.)
 */
const SURROGATE_ESCAPE = /\\ud[89a-f]/;

/**
 * The contract (the source of truth) over a Kafka value as the sink will decode it, so what the
 * encoding changes (a non-finite CTR prints as null) is judged too. The scan of every string for lone
 * surrogates, most of the check's cost at 500 candidates, runs only when the text has an escape for one.
 */
export function checkScoreLogValue(value: string): ValueCheck {
  const parsed = JSON.parse(value) as { request_id?: unknown };
  const v = SURROGATE_ESCAPE.test(value) ? validate('scoreLog', parsed) : validateSchema('scoreLog', parsed);
  return v.ok ? { ok: true } : { ok: false, reason: v.reason, request_id: parsed.request_id };
}

// JSON.stringify prints a plain array's numbers faster than any loop over the typed array does.
function numbersJson(values: Float64Array): string {
  const plain: number[] = [];
  for (let i = 0; i < values.length; i++) plain.push(values[i]!);
  return JSON.stringify(plain);
}

/**
 * The Kafka value: the same JSON object as JSON.stringify(record) with the CTR arrays moved last
 * (a float64 prints the same from the array as from the record, so the CTRs are bit-identical).
 */
export function scoreLogValue(p: PackedScoreLog): string {
  const shadow = p.shadowCtrs ? `,"shadow_ctrs":${numbersJson(p.shadowCtrs)}` : '';
  return `${fromUtf8.decode(p.head)},"ctrs":${numbersJson(p.ctrs)}${shadow}}`;
}
