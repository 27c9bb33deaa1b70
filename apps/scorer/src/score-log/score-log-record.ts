import type { ScoreLogAggregates, ScoreLogContext, ScoreLogRecord } from '@mmctr/contracts';
import type { ServingLayout } from '../layout/serving-layout';
import type { AssemblyInput } from '../scoring/feature-assembler';
import type { ScoreResponse } from '../scoring/score-request';

/**
 * The candidate-scope attribute score_log.positions holds (an Array(UInt16) column from before the log
 * carried any repository's candidate context); a candidate without it gets its index, as the API
 * documents.
 */
export const POSITION = 'position';

/** Each candidate's candidate-scope attributes as one object (a plain loop: this runs per request). */
function candidateContexts(byName: AssemblyInput['candidateContext'], B: number): ScoreLogContext[] {
  const names = Object.keys(byName);
  const out: ScoreLogContext[] = new Array<ScoreLogContext>(B);
  for (let b = 0; b < B; b++) {
    const o: ScoreLogContext = {};
    for (const n of names) o[n] = byName[n]![b] as ScoreLogContext[string];
    out[b] = o;
  }
  return out;
}

/** The raw aggregate values a request fed the model, by `<aggregation>@<window>` (undefined: the layout reads none). */
function loggedAggregates(layout: ServingLayout, input: AssemblyInput): ScoreLogAggregates | undefined {
  if (!layout.aggregates.length) return undefined;
  const out: ScoreLogAggregates = { as_of_ms: input.tsMs, user: {}, candidates: {} };
  const B = input.candidateIds.length;
  layout.aggregates.forEach((a, i) => {
    const v = input.aggregates?.[i];
    if (a.side === 'user') out.user[a.name] = v?.[0] ?? 0;
    else out.candidates[a.name] = v ? Array.from(v.subarray(0, B)) : new Array<number>(B).fill(0);
  });
  return out;
}

/** What a request's score log record is made of: its assembly input, what answered and the answer. */
export interface ScoreLogParts {
  layout: ServingLayout;
  input: AssemblyInput;
  /** The version that answered and its layout's (the repository's) version. */
  served: { version: string; layout: { version: string } };
  response: ScoreResponse;
}

/**
 * The record of one answered request. Its parts are the request as validated at the door (whose
 * limits are the contract's, score-request-schema.ts) and the scorer's own values; the score log
 * thread checks the encoded record against the contract.
 */
export function scoreLogRecord({ layout, input, served, response }: ScoreLogParts): ScoreLogRecord {
  const B = input.candidateIds.length;
  const candidateContext = input.candidateContext;
  const sequences = Object.fromEntries(
    layout.sequences.map((s, k) => {
      const e = input.sequences[k]!;
      return [s.name, { keys: e.ids.slice(0, s.length), ts_ms: e.tsMs.slice(0, s.length) }];
    }),
  );
  // score_log's fixed history columns hold the first sequence's list (`hist:<user>`), as before.
  const first = layout.sequences[0] ? sequences[layout.sequences[0].name]! : { keys: [], ts_ms: [] };
  const positions = candidateContext[POSITION] as number[] | undefined;
  const aggregates = loggedAggregates(layout, input);
  return {
    schema_version: 1,
    request_id: response.request_id,
    ts_ms: input.tsMs,
    user_id: input.userId,
    model_version: served.version,
    feature_spec_version: served.layout.version,
    context: { ...input.context } as ScoreLogContext,
    history_item_ids: first.keys,
    // Event times of history_item_ids: the ages are recomputed from these and ts_ms.
    history_ts_ms: first.ts_ms,
    item_ids: input.candidateIds as string[],
    positions: positions ? [...positions] : new Array<number>(B).fill(0),
    ctrs: response.scores.map((s) => s.ctr),
    degraded: response.degraded,
    candidate_context: candidateContexts(candidateContext, B),
    sequences,
    ...(aggregates ? { aggregates } : {}),
  };
}
