import Fastify from 'fastify';
import { SCORED_ROUTE } from '../metrics/request-metrics.hook';
import { completeServerTiming, markHandler, markParse, serverTiming } from './server-timing';

describe('Server-Timing', () => {
  it('formats stage seconds as ms and leaves out stages without a time', () => {
    expect(serverTiming({ queue: 0.00042, history: 0.0011, encode: undefined, items: NaN })).toBe(
      'queue;dur=0.42, history;dur=1.10',
    );
  });

  it('completes a scored answer with parse, respond, server and the GC pauses during the request', async () => {
    let gcMs = 10;
    const fastify = Fastify();
    completeServerTiming(fastify, () => gcMs);
    fastify.post(SCORED_ROUTE, async (request, reply) => {
      markParse(request.raw, 0.0002);
      gcMs += 3.5; // a pause while the request was in the scorer
      void reply.header('server-timing', serverTiming({ inference: 0.0015 }));
      markHandler(request.raw, performance.now() - 2);
      return { ok: true };
    });
    fastify.get('/other', async () => ({ ok: true }));
    const scored = await fastify.inject({ method: 'POST', url: SCORED_ROUTE, payload: {} });
    const header = String(scored.headers['server-timing']);
    expect(header).toMatch(
      /^inference;dur=1\.50, parse;dur=0\.20, respond;dur=\d+\.\d\d, server;dur=\d+\.\d\d, gc;dur=3\.50$/,
    );
    expect(Number(/server;dur=([\d.]+)/.exec(header)![1])).toBeGreaterThanOrEqual(2);
    // An answer the handler did not mark gets no header.
    expect((await fastify.inject({ method: 'GET', url: '/other' })).headers['server-timing']).toBeUndefined();
    await fastify.close();
  });
});
