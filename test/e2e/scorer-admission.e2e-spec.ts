// Admission control against the real stack: a request whose deadline has passed is shed with 503 +
// Retry-After before any work, and under a burst of concurrent requests with a tight deadline every
// answer is either the same 200 a lone request gets, on time, or a 503 with Retry-After.
import { connect, type Socket } from 'node:net';
import type { ScoreResponse } from '@mmctr/scorer';
import * as harness from '../../apps/scorer/test/support/scorer-harness';
import { metricValue } from '@mmctr/observability';

const vec = (seed: number) => harness.waveVector(seed, 7.3, 0.4, Math.cos);
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
  const suite = harness.scorerSuite({ SCORER_DEFAULT_DEADLINE_MS: '100', SCORER_MAX_QUEUE: '64' });

  beforeAll(async () => {
    const now = Date.now();
    const { env } = suite;
    await harness.insertCatalogue(env.ch, items, now);
    await harness.recordClicks(
      env.prefix,
      items
        .slice(500)
        .map((it, k) => harness.clickEvent('adm-user', it.item_id, now - 60_000 * (k + 1), `c${k}`, `r${k}`)),
    );
    await harness.registerModel(env.ch, 'adm-v1', await harness.testModel('admission', 3, 64), 'production');
    await (await suite.start()).waitServing('adm-v1');
  });

  it('answers a bad deadline header with a 400 that names it', async () => {
    for (const value of ['soon', '-1', '']) {
      const res = await suite.scorer.score<Answer>(request, { 'x-request-deadline-ms': value });
      expect(res.status).toBe(400);
      expect(res.body.message).toContain('x-request-deadline-ms');
    }
    // An absolute deadline in seconds, not milliseconds: far from the scorer's clock.
    const seconds = String(Math.round(Date.now() / 1000) + 1);
    const res = await suite.scorer.score<Answer>(request, { 'x-request-deadline-at-ms': seconds });
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('x-request-deadline-at-ms');
  });

  it('sheds a request whose deadline has expired with 503 + Retry-After, counted by reason', async () => {
    const res = await suite.scorer.score<Answer>(request, { 'x-request-deadline-ms': '0' });
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(res.body.reason).toBe('expired');
    // The absolute form, on the client's clock: a deadline already behind it.
    const past = await suite.scorer.score<Answer>(request, {
      'x-request-deadline-at-ms': String(Date.now() - 5),
    });
    expect(past.status).toBe(503);
    expect(Number(past.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(past.body.reason).toBe('expired');
    const metrics = await suite.scorer.metrics();
    expect(metricValue(metrics, 'mmctr_scorer_shed_requests_total{reason="expired"}')).toBe(2);
    expect(metricValue(metrics, 'mmctr_scorer_request_duration_seconds_count{status="503"}')).toBe(2);
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
    // Half send the budget, half the absolute deadline on this clock: both are kept after admission.
    const sentAt = Date.now();
    const answers = await Promise.all(
      bodies.map(async (body, i) => {
        const deadline: Record<string, string> =
          i % 2 ? { 'x-request-deadline-ms': '80' } : { 'x-request-deadline-at-ms': String(sentAt + 80) };
        const res = await fetch(`${suite.scorer.url}/v1/score`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...deadline },
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
    // How many are shed depends on how fast the client delivers them (the queue-full test below sheds
    // deterministically); the first, with nothing ahead of it, is always admitted.
    expect(ok.length).toBeGreaterThan(0);
    for (const a of ok) {
      expect(a.body.degraded).toBe(false);
      expect(a.body.scores).toEqual(lone.body.scores);
    }
    for (const a of shed) {
      expect(a.retryAfter).toMatch(/^[1-9]\d*$/);
      expect(['expired', 'queue_full', 'predicted_late', 'deadline_exceeded']).toContain(a.body.reason);
    }

    const after = await suite.scorer.metrics();
    const delta = (series: string) => metricValue(after, series) - metricValue(before, series);
    const shedCounted = ['expired', 'queue_full', 'predicted_late', 'deadline_exceeded']
      .map((r) => delta(`mmctr_scorer_shed_requests_total{reason="${r}"}`))
      .reduce((a, b) => a + b, 0);
    expect(shedCounted).toBe(shed.length);
    expect(delta('mmctr_scorer_request_duration_seconds_count{status="503"}')).toBe(shed.length);
    // The deadline was sent, so it is kept after admission too: no 200 left after it.
    expect(delta('mmctr_scorer_late_responses_total')).toBe(0);
    expect(metricValue(after, 'mmctr_scorer_admission_in_flight')).toBe(0);
    expect(after).toMatch(/^mmctr_scorer_gc_pause_seconds_count\{kind="\w+"\} \d+$/m);
  });

  it('sheds with queue_full once SCORER_MAX_QUEUE requests are in flight, and serves the held ones', async () => {
    const scorer = await suite.start({ SCORER_MAX_QUEUE: '2' });
    await scorer.waitServing('adm-v1');
    const lone = await scorer.score<Answer>(request);
    expect(lone.status).toBe(200);
    const { port } = new URL(scorer.url);
    const body = Buffer.from(JSON.stringify(request));
    // Two requests whose headers have arrived but whose bodies have not: both are admitted and in flight.
    const held = await Promise.all([heldRequest(Number(port), body), heldRequest(Number(port), body)]);
    await harness.waitFor(
      'both held requests admitted',
      async () => metricValue(await scorer.metrics(), 'mmctr_scorer_admission_in_flight') === 2,
    );
    const third = await scorer.score<Answer>(request, { 'x-request-deadline-ms': '60000' });
    expect(third.status).toBe(503);
    expect(third.body.reason).toBe('queue_full');
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // The held requests finish their bodies and get the lone request's answer.
    for (const h of held) {
      const res = await h.finish();
      expect(res.status).toBe(200);
      expect((JSON.parse(res.body) as Answer).scores).toEqual(lone.body.scores);
    }
    const metrics = await scorer.metrics();
    expect(metricValue(metrics, 'mmctr_scorer_shed_requests_total{reason="queue_full"}')).toBe(1);
    expect(metricValue(metrics, 'mmctr_scorer_admission_in_flight')).toBe(0);
  });
});

/**
 * A POST /v1/score on its own connection that sends its headers and half its body; finish() sends
 * the rest and reads the
 * answer (Connection: close: the scorer closes the socket after it; the client never half-closes,
 * which the server would take for an abort).
 */
async function heldRequest(
  port: number,
  body: Buffer,
): Promise<{ finish: () => Promise<{ status: number; body: string }> }> {
  const socket: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const half = Math.floor(body.length / 2);
  socket.write(
    `POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\nx-request-deadline-ms: 60000\r\nConnection: close\r\n\r\n`,
  );
  socket.write(body.subarray(0, half));
  return {
    finish: async () => {
      socket.write(body.subarray(half));
      await ended;
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
      return { status, body: text.slice(text.indexOf('\r\n\r\n') + 4) };
    },
  };
}
