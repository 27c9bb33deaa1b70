import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import { SCORED_ROUTE } from '../metrics/request-metrics.hook';

/**
 * A Server-Timing header value (ms, two decimals) from stage durations in seconds, e.g.
 * `queue;dur=0.42, history;dur=1.10`; stages without a time are left out.
 */
export function serverTiming(stagesS: Record<string, number | undefined>): string {
  return Object.entries(stagesS)
    .filter((e): e is [string, number] => e[1] !== undefined && Number.isFinite(e[1]))
    .map(([name, s]) => `${name};dur=${(s * 1000).toFixed(2)}`)
    .join(', ');
}

/** Per request (its raw IncomingMessage), with SCORER_SERVER_TIMING on: what the hooks add to the header. */
interface Marks {
  /** Body bytes to a parsed value (UTF-8 check + JSON.parse), seconds. */
  parseS?: number;
  /** performance.now() when the handler returned its response object. */
  handlerEndMs?: number;
  /** performance.now() when the request's headers were read (the admission clock's arrival). */
  arrivalMs?: number;
  /** The process's GC pause total (ms) when the request's headers were read. */
  gcAtArrivalMs?: number;
}

const marks = new WeakMap<object, Marks>();

function marksOf(raw: object): Marks {
  let m = marks.get(raw);
  if (!m) marks.set(raw, (m = {}));
  return m;
}

export function markParse(raw: object, seconds: number): void {
  marksOf(raw).parseS = seconds;
}

export function markHandler(raw: object, arrivalMs: number | undefined): void {
  const m = marksOf(raw);
  m.handlerEndMs = performance.now();
  m.arrivalMs = arrivalMs;
}

/**
 * Completes a scored response's Server-Timing header in onSend, after Fastify serialised the body:
 * `parse` (the body parser), `respond` (handler end to onSend: serialisation and the onSend hooks
 * before this one), `server` (arrival to onSend) and `gc` (the process's GC pauses observed between
 * arrival and onSend, whichever stage they fell in). Only with SCORER_SERVER_TIMING on.
 */
export function completeServerTiming(fastify: FastifyInstance, gcPauseTotalMs: () => number): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    if (request.routeOptions.url === SCORED_ROUTE) marksOf(request.raw).gcAtArrivalMs = gcPauseTotalMs();
    done();
  });
  fastify.addHook('onSend', async (request, reply, payload) => {
    const m = marks.get(request.raw);
    const header = reply.getHeader('server-timing');
    if (!m?.handlerEndMs || typeof header !== 'string') return payload;
    const now = performance.now();
    const extra = serverTiming({
      parse: m.parseS,
      respond: (now - m.handlerEndMs) / 1000,
      server: m.arrivalMs === undefined ? undefined : (now - m.arrivalMs) / 1000,
      gc: m.gcAtArrivalMs === undefined ? undefined : (gcPauseTotalMs() - m.gcAtArrivalMs) / 1000,
    });
    void reply.header('server-timing', `${header}, ${extra}`);
    return payload;
  });
}
