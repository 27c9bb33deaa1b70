// The score log's hand-off on the request loop, stage by stage (perf_hooks), two code paths in one run:
//
//   before  the record built before the response is written, then (after it) checked against the
//           contract (ajv + the well-formed string scan) and packed;
//   after   the record built after the response, packed; the contract check runs on the score log
//           thread (its cost printed beside, as the thread's).
//
// Demo layout (position per candidate, 3 request attributes, a 64-click history), --candidates per
// request, a fresh request input per record, the two paths alternating in rounds of --batch records.
// Per stage p50 / p99 in µs, the request loop's total per record and its after ÷ before ratio, and the
// GC pauses (count, ms per 1000 records) that fell in each path's rounds.
//
// Usage: node -r ./scripts/register.js bench/score/score-log-handoff.ts [--candidates 500]
//        [--rounds 40] [--batch 50]
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { validate } from '@mmctr/contracts';
import { DEFAULT_FEATURE_REPO_PATH, loadFeatureRepo } from '@mmctr/feature-repo';
import {
  checkScoreLogValue,
  packScoreLog,
  scoreLogRecord,
  scoreLogValue,
  ServingLayout,
  type AssemblyInput,
  type ScoreLogParts,
} from '@mmctr/scorer';
import { numberArg } from '../support/cli-args';

const CANDIDATES = numberArg('candidates', 500);
const ROUNDS = numberArg('rounds', 40);
const BATCH = numberArg('batch', 50);
const WARM_ROUNDS = 4;

type Path = 'before' | 'after';
const STAGES = ['build', 'validate', 'pack', 'thread: encode', 'thread: check'] as const;
type Stage = (typeof STAGES)[number];
/** Stages run on the request loop, by path; the rest run on the score log thread. */
const REQUEST_LOOP: Record<Path, Stage[]> = {
  before: ['build', 'validate', 'pack'],
  after: ['build', 'pack'],
};

const layout = new ServingLayout(loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH));
const historyLength = layout.sequences[0]?.length ?? 0;

/** One answered request's parts, as ScoreService hands them over (fresh objects, like a request's). */
function parts(k: number): ScoreLogParts {
  const candidateIds = Array.from({ length: CANDIDATES }, (_, i) => `item-${(k * 31 + i * 7) % 200_000}`);
  const input: AssemblyInput = {
    userId: `user-${k % 1000}`,
    context: { device: 'android', placement: 'feed', country: 'DE' },
    tsMs: 1_767_225_600_000 + k,
    sequences: layout.sequences.map(() => ({
      ids: Array.from({ length: historyLength }, (_, i) => `item-${(k * 7919 + i * 104_729) % 200_000}`),
      rows: new Int32Array(0),
      tsMs: Array.from({ length: historyLength }, (_, i) => 1_767_225_000_000 - i * 60_000),
    })),
    candidateIds,
    candidateRows: new Int32Array(CANDIDATES),
    candidateContext: { position: candidateIds.map((_, i) => i % 32) },
  };
  const ctrs = new Float32Array(CANDIDATES).map(() => 1 / (1 + Math.exp(-(Math.random() * 4 - 6))));
  const response = {
    request_id: `req-${k}`,
    model_version: 'qin-demo',
    scores: candidateIds.map((item_id, i) => ({ item_id, ctr: ctrs[i]! })),
    degraded: false,
  };
  return { layout, input, served: { version: 'qin-demo', layout: { version: layout.version } }, response };
}

const samples = (): Record<Stage | 'request loop', number[]> => ({
  build: [],
  validate: [],
  pack: [],
  'thread: encode': [],
  'thread: check': [],
  'request loop': [],
});
const times: Record<Path, ReturnType<typeof samples>> = { before: samples(), after: samples() };
const gc: Record<Path, { count: number; ms: number }> = {
  before: { count: 0, ms: 0 },
  after: { count: 0, ms: 0 },
};
let current: Path | undefined;
new PerformanceObserver((list) => {
  if (!current) return;
  for (const e of list.getEntries()) {
    gc[current].count++;
    gc[current].ms += e.duration;
  }
}).observe({ entryTypes: ['gc'] });

/** Runs `fn`, recording its wall time in µs under `stage` when `into` is given. */
function timed<T>(into: ReturnType<typeof samples> | undefined, stage: Stage, fn: () => T): T {
  const t = performance.now();
  const out = fn();
  into?.[stage].push((performance.now() - t) * 1000);
  return out;
}

function record(path: Path, k: number, into: ReturnType<typeof samples> | undefined): void {
  const p = parts(k);
  const r = timed(into, 'build', () => scoreLogRecord(p));
  if (path === 'before') {
    const v = timed(into, 'validate', () => validate('scoreLog', r));
    if (!v.ok) throw new Error(`the bench's record is invalid: ${v.reason}`);
  }
  const packed = timed(into, 'pack', () => packScoreLog(r));
  const value = timed(into, 'thread: encode', () => scoreLogValue(packed));
  if (path === 'after' && !timed(into, 'thread: check', () => checkScoreLogValue(value)).ok)
    throw new Error("the bench's record is invalid");
  if (into) {
    const n = into.build.length - 1;
    into['request loop'].push(REQUEST_LOOP[path].reduce((s, st) => s + into[st][n]!, 0));
  }
}

const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

async function main(): Promise<void> {
  let k = 0;
  for (let round = 0; round < WARM_ROUNDS + ROUNDS; round++) {
    const measured = round >= WARM_ROUNDS;
    // Alternate which path goes first, so neither always follows the other's garbage.
    const order: Path[] = round % 2 ? ['after', 'before'] : ['before', 'after'];
    for (const path of order) {
      current = measured ? path : undefined;
      for (let i = 0; i < BATCH; i++) record(path, k++, measured ? times[path] : undefined);
      // GC entries are delivered asynchronously: let them land while this path is current.
      await new Promise((r) => setImmediate(r));
    }
  }
  current = undefined;
  const n = ROUNDS * BATCH;
  console.log(`score log hand-off, ${CANDIDATES} candidates, ${n} records per path (µs, p50 / p99)`);
  console.log(`${'stage'.padEnd(16)}${'before'.padStart(20)}${'after'.padStart(20)}`);
  const cell = (xs: number[]) =>
    xs.length ? `${quantile(xs, 0.5).toFixed(1)} / ${quantile(xs, 0.99).toFixed(1)}` : '-';
  for (const stage of [...STAGES, 'request loop'] as const)
    console.log(
      `${stage.padEnd(16)}${cell(times.before[stage]).padStart(20)}${cell(times.after[stage]).padStart(20)}`,
    );
  const ratio = (q: number) =>
    (quantile(times.after['request loop'], q) / quantile(times.before['request loop'], q)).toFixed(2);
  console.log(`request loop after ÷ before: p50 ${ratio(0.5)}, p99 ${ratio(0.99)}`);
  for (const path of ['before', 'after'] as const)
    console.log(
      `GC in ${path}'s rounds: ${gc[path].count} pauses, ${((gc[path].ms * 1000) / n).toFixed(2)} ms per 1000 records`,
    );
}

void main();
