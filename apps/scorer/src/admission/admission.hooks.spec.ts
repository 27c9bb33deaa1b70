import Fastify from 'fastify';
import { loadScorerConfig } from '../config/scorer-config';
import { SCORED_ROUTE } from '../metrics/request-metrics.hook';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { admitScoreRequests } from './admission.hooks';
import { AdmissionService } from './admission.service';

/** A bare Fastify with the admission hooks; the route takes `work` ms on the fake clock to answer. */
async function app(work: number) {
  const clock = { t: 1_000, now: () => clock.t };
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
  return { fastify, admission, metrics, post, metric };
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
});
