import Fastify from 'fastify';
import { loadScorerConfig } from '../config/scorer-config';
import { SCORED_ROUTE } from '../metrics/request-metrics.hook';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { admitScoreRequests } from './admission.hooks';
import { AdmissionService } from './admission.service';

const WALL_AT_1000 = 1_800_000_000_000;

/** A bare Fastify with the admission hooks; the route takes `work` ms on the fake clock to answer. */
async function app(work: number) {
  // The wall clock runs with the monotonic one, from a fixed Unix time.
  const clock = { t: 1_000, now: () => clock.t, wallNow: () => WALL_AT_1000 - 1_000 + clock.t };
  const metrics = new ScorerMetrics();
  const admission = new AdmissionService(
    loadScorerConfig({ SCORER_DEFAULT_DEADLINE_MS: '50' }),
    metrics,
    clock,
  );
  const fastify = Fastify();
  admitScoreRequests(fastify, admission, () => 'v1');
  fastify.post(SCORED_ROUTE, async (_req, reply) => {
    clock.t += work;
    void reply.header('x-model-version', 'v1');
    return { scores: [] };
  });
  // Over a socket, not inject: the ticket is finished by the response's close event.
  const url = await fastify.listen({ port: 0, host: '127.0.0.1' });
  const post = async (headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}${SCORED_ROUTE}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: '{}',
    });
    const answered: Record<string, string> = {};
    res.headers.forEach((value, name) => (answered[name] = value));
    return { statusCode: res.status, headers: answered, body: (await res.json()) as Record<string, unknown> };
  };
  const metric = async (name: string) => (await metrics.registry.getSingleMetricAsString(name)).split('\n');
  return { fastify, admission, metrics, post, metric, clock };
}

describe('admission hooks: the deadline when the answer is written', () => {
  it('turns an answer past the deadline the client sent into a 503 with Retry-After, counted', async () => {
    const t = await app(30);
    const res = await t.post({ 'x-request-deadline-ms': '20' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.headers['x-model-version']).toBeUndefined();
    expect(res.body).toMatchObject({ statusCode: 503, reason: 'deadline_exceeded' });
    expect(await t.metric('mmctr_scorer_deadline_exceeded_requests_total')).toContain(
      'mmctr_scorer_deadline_exceeded_requests_total{at="after_inference"} 1',
    );
    expect(await t.metric('mmctr_scorer_shed_requests_total')).toContain(
      'mmctr_scorer_shed_requests_total{reason="deadline_exceeded"} 1',
    );
    expect(await t.metric('mmctr_scorer_late_responses_total')).toContain(
      'mmctr_scorer_late_responses_total 0',
    );
    await new Promise((r) => setTimeout(r, 20)); // the response's close event finishes the ticket
    expect(t.admission.depth).toBe(0);
    t.metrics.onModuleDestroy();
    await t.fastify.close();
  });

  it('answers within the sent deadline as usual, and a late answer under the default deadline is sent and counted late', async () => {
    const onTime = await app(10);
    const ok = await onTime.post({ 'x-request-deadline-ms': '20' });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['x-model-version']).toBe('v1');
    onTime.metrics.onModuleDestroy();
    await onTime.fastify.close();

    // No header: the default (50 ms) decided admission only; the client did not say it stops waiting.
    const slow = await app(80);
    const late = await slow.post();
    expect(late.statusCode).toBe(200);
    expect(late.body).toEqual({ scores: [] });
    await new Promise((r) => setTimeout(r, 20)); // the response's close event finishes the ticket
    expect(await slow.metric('mmctr_scorer_late_responses_total')).toContain(
      'mmctr_scorer_late_responses_total 1',
    );
    slow.metrics.onModuleDestroy();
    await slow.fastify.close();
  });

  it('counts an absolute deadline (x-request-deadline-at-ms) from the client clock, so time before the scorer read the request is spent', async () => {
    const t = await app(10);
    // The client stamped a 20 ms deadline 15 ms before the scorer read the headers: 5 ms are left,
    // and the 10 ms of work miss it, where a relative budget of 20 ms would not.
    const res = await t.post({ 'x-request-deadline-at-ms': String(WALL_AT_1000 - 15 + 20) });
    expect(res.statusCode).toBe(503);
    expect(res.body).toMatchObject({ reason: 'deadline_exceeded' });
    const ok = await t.post({ 'x-request-deadline-at-ms': String(t.clock.wallNow() + 20) });
    expect(ok.statusCode).toBe(200);
    // Already past when read: shed before any work, as expired.
    const expired = await t.post({ 'x-request-deadline-at-ms': String(t.clock.wallNow() - 1) });
    expect(expired.statusCode).toBe(503);
    expect(expired.headers['retry-after']).toBe('1');
    expect(expired.body).toMatchObject({ reason: 'expired' });
    // With both headers, the earlier deadline decides.
    const both = await t.post({
      'x-request-deadline-ms': '5',
      'x-request-deadline-at-ms': String(t.clock.wallNow() + 60_000),
    });
    expect(both.body).toMatchObject({ reason: 'deadline_exceeded' });
    t.metrics.onModuleDestroy();
    await t.fastify.close();
  });

  it('answers an absolute deadline that is not Unix milliseconds near its clock with a 400 naming the header', async () => {
    const t = await app(1);
    for (const value of ['soon', String(Math.round(t.clock.wallNow() / 1000))]) {
      const res = await t.post({ 'x-request-deadline-at-ms': value });
      expect(res.statusCode).toBe(400);
      expect(String(res.body.message)).toContain('x-request-deadline-at-ms');
    }
    t.metrics.onModuleDestroy();
    await t.fastify.close();
  });
});
