import type { FastifyInstance, FastifyReply } from 'fastify';
import { SCORED_ROUTE } from '../metrics/request-metrics.hook';
import type { AdmissionService, ShedReason } from './admission.service';
import { requestBudget } from './deadline-header';

/** The body of every shed 503 (clients and tests read `reason`). */
export const shedBody = (reason: ShedReason, why: string) => ({
  statusCode: 503,
  error: 'Service Unavailable',
  message: `shed (${reason}): ${why}`,
  reason,
});

/** Answers 503 + Retry-After for a shed request (no work was done for it). */
export function sendShed(reply: FastifyReply, reason: ShedReason, retryAfterS: number): FastifyReply {
  return reply
    .code(503)
    .header('retry-after', String(retryAfterS))
    .send(shedBody(reason, 'the request cannot be answered within its deadline; retry later'));
}

/**
 * Admission of POST /v1/score in an onRequest hook: the arrival time is taken as soon as Fastify has
 * the request's headers, and a request to shed is answered before its body is parsed. Requests that
 * wait while the event loop runs a session are seen here only when it is free; that wait (and the
 * kernel's queues before it) is on the client's clock, not ours: a relative budget starts here, while
 * an absolute deadline (x-request-deadline-at-ms) counts it. The ticket notes when its answer is
 * handed to the socket (onSend: whether it was late) and is finished when the response closes (sent,
 * or the client went away).
 */
export function admitScoreRequests(
  fastify: FastifyInstance,
  admission: AdmissionService,
  productionVersion: () => string | null | undefined,
): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    if (request.method !== 'POST' || request.routeOptions.url !== SCORED_ROUTE) return done();
    const arrivalMs = admission.now();
    const deadline = requestBudget(request.headers, admission.wallNow());
    if (!deadline.ok) {
      void reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: deadline.message });
      return;
    }
    const decision = admission.admit(arrivalMs, deadline.budgetMs, productionVersion() ?? 'none');
    if (!decision.admitted) {
      void sendShed(reply, decision.reason, decision.retryAfterS);
      return;
    }
    const { ticket } = decision;
    admission.attach(request.raw, ticket);
    reply.raw.once('close', () =>
      admission.finish(ticket, reply.raw.writableFinished && reply.statusCode === 200),
    );
    done();
  });
  // The last moment before the answer is written: one whose sent deadline has passed becomes a 503, so
  // a client that said it would not wait longer never gets a late 200 (its scores were logged as scored).
  fastify.addHook('onSend', (request, reply, payload, done) => {
    const ticket = admission.ticketOf(request.raw);
    if (ticket && reply.statusCode === 200 && admission.sentDeadlinePassed(ticket)) {
      admission.abandoned('after_inference');
      reply.code(503).header('retry-after', '1').removeHeader('x-model-version');
      return done(
        null,
        JSON.stringify(shedBody('deadline_exceeded', 'the deadline passed while it was scored')),
      );
    }
    if (ticket) admission.sending(ticket);
    done(null, payload);
  });
}
