import type { FastifyInstance } from 'fastify';
import type { ScorerMetrics } from './scorer-metrics';

/** The route whose requests mmctr_scorer_request_duration_seconds counts. */
export const SCORED_ROUTE = '/v1/score';

/**
 * Counts every answer of POST /v1/score by the status actually sent, in onResponse: rejections raised
 * before the controller (401 from the guard, 413 body limit, 415 content type, 400 unparsable JSON)
 * are counted like the handler's own answers.
 */
export function countScoreRequests(fastify: FastifyInstance, metrics: ScorerMetrics): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    if (request.method === 'POST' && request.routeOptions.url === SCORED_ROUTE) {
      metrics.requestSeconds.observe({ status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    }
    done();
  });
}
