import Fastify from 'fastify';
import { acceptJsonBodiesOnly } from '../scoring/json-only';
import { countScoreRequests, SCORED_ROUTE } from './request-metrics.hook';
import { ScorerMetrics } from './scorer-metrics';

/** A bare Fastify with the scorer's hook and body rules; the route answers 401 without a key. */
async function app() {
  const metrics = new ScorerMetrics();
  const fastify = Fastify({ bodyLimit: 64 });
  countScoreRequests(fastify, metrics);
  acceptJsonBodiesOnly(fastify);
  fastify.post(SCORED_ROUTE, async (req, reply) =>
    req.headers['x-api-key'] ? { ok: true } : reply.code(401).send({ message: 'no key' }),
  );
  fastify.get('/metrics', async () => 'ok');
  await fastify.ready();
  const counts = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const v of (await metrics.requestSeconds.get()).values)
      if (v.metricName === 'mmctr_scorer_request_duration_seconds_count')
        out[String(v.labels.status)] = v.value;
    return out;
  };
  return { fastify, counts };
}

describe('request metrics and body rules', () => {
  it('counts each POST /v1/score by the status sent, including rejections before the handler', async () => {
    const { fastify, counts } = await app();
    const post = (payload: string, headers: Record<string, string>) =>
      fastify.inject({ method: 'POST', url: SCORED_ROUTE, payload, headers });
    const json = { 'content-type': 'application/json' };
    const statuses = [
      (await post('{}', { ...json, 'x-api-key': 'k' })).statusCode,
      (await post('{}', json)).statusCode,
      (await post('{"a": ', { ...json, 'x-api-key': 'k' })).statusCode,
      (await post(JSON.stringify({ a: 'x'.repeat(100) }), { ...json, 'x-api-key': 'k' })).statusCode,
      (await post('{}', { 'content-type': 'text/plain', 'x-api-key': 'k' })).statusCode,
    ];
    expect(statuses).toEqual([200, 401, 400, 413, 415]);
    await fastify.inject({ method: 'GET', url: '/metrics' }); // other routes are not counted
    expect(await counts()).toEqual({ '200': 1, '401': 1, '400': 1, '413': 1, '415': 1 });
    await fastify.close();
  });

  it('answers 415 with a message naming the content type for any body that is not JSON', async () => {
    const { fastify } = await app();
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
      const res = await fastify.inject({
        method: 'POST',
        url: SCORED_ROUTE,
        payload: 'a=1',
        headers: { 'content-type': type },
      });
      expect([res.statusCode, res.json<{ message: string }>().message]).toEqual([
        415,
        `request bodies must be application/json; got content-type ${type}`,
      ]);
    }
    await fastify.close();
  });
});
