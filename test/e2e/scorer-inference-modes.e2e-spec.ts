// The serving modes against the real stack: a scorer with the inference pool, and one with two
// processes, a pool thread each and micro-batching, answer concurrent requests with the CTRs of the
// in-process scorer, follow a model swap on every process and thread, and the multi-process /metrics
// counts every process's requests.
import type { ScoreResponse } from '@mmctr/scorer';
import { resolveModel } from '../../bench/score/lib/models';
import {
  clickEvent,
  insertCatalogue,
  recordClicks,
  registerModel,
  scorerSuite,
  testModel,
  waitFor,
  type RunningScorer,
  waveVector,
} from '../../apps/scorer/test/support/scorer-harness';
import { metricValue } from '@mmctr/observability';

const vec = (seed: number) => waveVector(seed, 1.7, 0.3, Math.sin);
const items = Array.from({ length: 160 }, (_, k) => ({
  item_id: `mode-${k}`,
  category: `cat${k % 6}`,
  tags: [`t${k % 5}`, `t${k % 11}`],
  vector: k % 9 === 0 ? null : vec(k),
}));
const USERS = 6;
/** Each user its own history, context and 120 candidates (a few unknown), so the requests differ. */
const requests = Array.from({ length: USERS }, (_, u) => ({
  user_id: `mode-user-${u}`,
  context: { device: u % 2 ? 'ios' : 'android', placement: 'feed', country: u % 3 ? 'DE' : 'FR' },
  ts_ms: 1_790_000_000_000,
  candidates: [
    ...items.slice(u * 5, u * 5 + 118).map((it, i) => ({ item_id: it.item_id, position: i })),
    { item_id: `unknown-${u}-a` },
    { item_id: `unknown-${u}-b` },
  ],
}));

/** Every request at once (concurrent connections: the processes share them), twice over. */
async function scoreAll(scorer: RunningScorer): Promise<ScoreResponse[]> {
  const answers = await Promise.all(
    [...requests, ...requests].map((r, i) => scorer.score({ ...r, request_id: `${scorer.url}-${i}` })),
  );
  for (const a of answers) expect(a.status).toBe(200);
  return answers.map((a) => a.body);
}

function expectSameCtrs(got: ScoreResponse[], want: ScoreResponse[]): void {
  expect(got.map((r) => r.model_version)).toEqual(want.map((r) => r.model_version));
  got.forEach((r, i) => {
    expect(r.degraded).toBe(false);
    expect(r.scores.map((s) => s.item_id)).toEqual(want[i]!.scores.map((s) => s.item_id));
    r.scores.forEach((s, k) => expect(Math.abs(s.ctr - want[i]!.scores[k]!.ctr)).toBeLessThan(1e-5));
  });
}

describe('scorer serving modes: inference pool, processes, micro-batching (real Redis, Kafka, ClickHouse)', () => {
  const suite = scorerSuite();
  let inProcess: RunningScorer;
  let pooled: RunningScorer;
  let processes: RunningScorer;

  beforeAll(async () => {
    const now = Date.now();
    await insertCatalogue(suite.env.ch, items, now);
    await recordClicks(
      suite.env.prefix,
      requests.flatMap((r, u) =>
        items
          .slice(100 + u * 3, 140 + u * 3)
          .map((it, k) =>
            clickEvent(r.user_id, it.item_id, now - 60_000 * (k + 1), `m${u}-${k}`, `r${u}-${k}`),
          ),
      ),
    );
    // The trainer's default QIN (random weights), which has a batch graph for micro-batching.
    await registerModel(suite.env.ch, 'modes-v1', resolveModel('qin-demo'), 'production');
    inProcess = await suite.start();
    pooled = await suite.start({ SCORER_INFERENCE_WORKERS: '2' });
    processes = await suite.start({
      SCORER_PROCESSES: '2',
      SCORER_INFERENCE_WORKERS: '1',
      SCORER_MICRO_BATCH: 'true',
      SCORER_MICRO_BATCH_WINDOW_MS: '100',
    });
    for (const s of [inProcess, pooled, processes]) await s.waitServing('modes-v1');
  });

  it('answers concurrent requests through the pool, and through processes with pool and micro-batching, with the in-process CTRs', async () => {
    const want = await scoreAll(inProcess);
    expect(new Set(want.map((r) => r.scores[0]!.ctr)).size).toBeGreaterThan(1); // the requests differ
    expectSameCtrs(await scoreAll(pooled), want);
    const before = await processes.metrics();
    expectSameCtrs(await scoreAll(processes), want);
    // /metrics of a multi-process scorer: every process's requests, the model state once.
    const after = await processes.metrics();
    const ok = 'mmctr_scorer_request_duration_seconds_count{status="200"}';
    expect(metricValue(after, ok) - metricValue(before, ok)).toBe(2 * USERS);
    expect(metricValue(after, 'mmctr_scorer_model_info{role="production",version="modes-v1"}')).toBe(1);
    // Micro-batching ran: some runs were shared by several requests.
    const runs = metricValue(after, 'mmctr_scorer_micro_batch_requests_count');
    expect(runs).toBeGreaterThan(0);
    expect(metricValue(after, 'mmctr_scorer_micro_batch_requests_sum')).toBeGreaterThan(runs);
  });

  it('follows a model swap on every thread and process', async () => {
    await registerModel(suite.env.ch, 'modes-v2', await testModel('modes', 5), 'production');
    for (const s of [inProcess, pooled, processes])
      await waitFor('modes-v2 answering every request', async () =>
        (await scoreAll(s)).every((r) => r.model_version === 'modes-v2'),
      );
    const want = await scoreAll(inProcess);
    expectSameCtrs(await scoreAll(pooled), want);
    expectSameCtrs(await scoreAll(processes), want);
  });
});
