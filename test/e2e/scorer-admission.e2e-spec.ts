// Admission control against the real stack: a request whose deadline has passed is shed with 503 +
// Retry-After before any work, and under a burst of concurrent requests with a tight deadline every
// answer is either the same 200 a lone request gets or a 503 with Retry-After.
import type { ScoreResponse } from '@mmctr/scorer';
import {
  clickEvent,
  insertCatalogue,
  recordClicks,
  registerModel,
  scorerSuite,
  testModel,
} from '../../apps/scorer/test/support/scorer-harness';

const D = 128;
const vec = (seed: number) => Array.from({ length: D }, (_, i) => Math.cos(seed * 7.3 + i * 0.4) * 0.5);
const items = Array.from({ length: 520 }, (_, k) => ({
  item_id: `adm-${k}`,
  category: `cat${k % 5}`,
  tags: [`t${k % 7}`],
  vector: vec(k),
}));
const request = {
  user_id: 'adm-user',
  context: { device: 'ios', placement: 'feed', country: 'FR' },
  ts_ms: 1_790_000_000_000,
  candidates: items.slice(0, 500).map((it, i) => ({ item_id: it.item_id, position: i })),
};
const BURST = 200;

type Answer = ScoreResponse & { message?: string; reason?: string };

describe('scorer admission control (real Redis, Kafka, ClickHouse)', () => {
  // 500 candidates on an emb-64 graph: milliseconds of work each, so a burst of 200 overloads the scorer.
  const suite = scorerSuite({ SCORER_DEFAULT_DEADLINE_MS: '100', SCORER_MAX_QUEUE: '64' });

  beforeAll(async () => {
    const now = Date.now();
    const { env } = suite;
    await insertCatalogue(env.ch, items, now);
    await recordClicks(
      env.prefix,
      items
        .slice(500)
        .map((it, k) => clickEvent('adm-user', it.item_id, now - 60_000 * (k + 1), `c${k}`, `r${k}`)),
    );
    await registerModel(env.ch, 'adm-v1', await testModel('admission', 3, 64), 'production');
    await (await suite.start()).waitServing('adm-v1');
  });

  const counter = (metrics: string, series: string) =>
    Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1] ?? 0);

  it('answers a bad x-request-deadline-ms with a 400 that names it', async () => {
    for (const value of ['soon', '-1', '']) {
      const res = await suite.scorer.score<Answer>(request, { 'x-request-deadline-ms': value });
      expect(res.status).toBe(400);
      expect(res.body.message).toContain('x-request-deadline-ms');
    }
  });

  it('sheds a request whose deadline has expired with 503 + Retry-After, counted by reason', async () => {
    const res = await suite.scorer.score<Answer>(request, { 'x-request-deadline-ms': '0' });
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(res.body.reason).toBe('expired');
    const metrics = await suite.scorer.metrics();
    expect(counter(metrics, 'mmctr_scorer_shed_requests_total{reason="expired"}')).toBe(1);
    expect(counter(metrics, 'mmctr_scorer_request_duration_seconds_count{status="503"}')).toBe(1);
  });

  it('under a burst with a tight deadline answers each request with the lone 200 or a 503 + Retry-After', async () => {
    // The lone request (also teaches the scorer the model's service time).
    const lone = await suite.scorer.score<Answer>(request);
    expect(lone.status).toBe(200);
    expect(lone.body.degraded).toBe(false);
    for (let i = 0; i < 5; i++) expect((await suite.scorer.score(request)).status).toBe(200);
    const before = await suite.scorer.metrics();

    const bodies = Array.from({ length: BURST }, (_, i) =>
      JSON.stringify({ ...request, request_id: `burst-${i}` }),
    );
    const answers = await Promise.all(
      bodies.map(async (body) => {
        const res = await fetch(`${suite.scorer.url}/v1/score`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-request-deadline-ms': '80' },
          body,
          signal: AbortSignal.timeout(60_000),
        });
        return {
          status: res.status,
          retryAfter: res.headers.get('retry-after'),
          body: (await res.json()) as Answer,
        };
      }),
    );

    const ok = answers.filter((a) => a.status === 200);
    const shed = answers.filter((a) => a.status === 503);
    expect(ok.length + shed.length).toBe(BURST);
    // 200 requests of work cannot all fit in 80 ms; the first (nothing ahead of it) always can.
    expect(shed.length).toBeGreaterThan(0);
    expect(ok.length).toBeGreaterThan(0);
    for (const a of ok) {
      expect(a.body.degraded).toBe(false);
      expect(a.body.scores).toEqual(lone.body.scores);
    }
    for (const a of shed) {
      expect(a.retryAfter).toMatch(/^[1-9]\d*$/);
      expect(['expired', 'queue_full', 'predicted_late']).toContain(a.body.reason);
    }

    const after = await suite.scorer.metrics();
    const delta = (series: string) => counter(after, series) - counter(before, series);
    const shedCounted = ['expired', 'queue_full', 'predicted_late']
      .map((r) => delta(`mmctr_scorer_shed_requests_total{reason="${r}"}`))
      .reduce((a, b) => a + b, 0);
    expect(shedCounted).toBe(shed.length);
    expect(delta('mmctr_scorer_request_duration_seconds_count{status="503"}')).toBe(shed.length);
    expect(delta('mmctr_scorer_late_responses_total')).toBeLessThanOrEqual(ok.length);
    expect(counter(after, 'mmctr_scorer_admission_in_flight')).toBe(0);
    expect(after).toMatch(/^mmctr_scorer_gc_pause_seconds_count\{kind="\w+"\} \d+$/m);
  });
});
