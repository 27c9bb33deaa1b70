// An open-loop load generator: requests arrive on a schedule of their own (Poisson or evenly spaced),
// whether or not earlier ones were answered, as independent callers of a service do. Each takes a
// connection from a pool (waiting client-side when all are busy), and its latency counts from its
// scheduled arrival, so a slow server cannot slow the offered load down (no coordinated omission).
// autocannon's rate limit, by contrast, gives each connection a quota per second that it spends at
// once: the load comes as a burst at the start of every second, then nothing.
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { mulberry32 } from '@mmctr/synth';

export type Arrivals = 'poisson' | 'uniform';

/** Whether a Retry-After value is what a shed must carry: whole seconds, at least 1. */
export const validRetryAfter = (value: string | string[] | null | undefined): boolean =>
  typeof value === 'string' && /^[1-9]\d*$/.test(value);

export interface OpenLoopOptions {
  origin: string;
  path: string;
  body: string;
  /** Requests per second offered. */
  rate: number;
  durationS: number;
  connections: number;
  arrivals: Arrivals;
  /** Headers of one request, given its arrival as Unix time in ms (e.g. a deadline stamped then). */
  headers: (arrivalWallMs: number) => Record<string, string>;
  /** A request unanswered this long after it was handed to the pool counts as a timeout. */
  timeoutMs: number;
  seed?: number;
}

export interface OpenLoopResult {
  offered: number;
  /** Latency in ms from the scheduled arrival to the whole response read, per status code. */
  latencyByStatus: Map<number, number[]>;
  /** 503s without a Retry-After of whole seconds ≥ 1. */
  retryAfterMissing: number;
  timeouts: number;
  errors: number;
  /** How late the generator handed requests to the pool against their schedule (its own lag), ms. */
  sendLagMs: number[];
}

/** Arrival offsets in ms over the run: exponential gaps (Poisson) or even ones. */
export function arrivalTimes(rate: number, durationS: number, arrivals: Arrivals, seed: number): number[] {
  const random = mulberry32(seed);
  const times: number[] = [];
  const meanGapMs = 1000 / rate;
  for (let t = 0; ;) {
    t += arrivals === 'uniform' ? meanGapMs : -Math.log(1 - random()) * meanGapMs;
    if (t >= durationS * 1000) return times;
    times.push(t);
  }
}

export async function openLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  const pool = new Pool(o.origin, {
    connections: o.connections,
    pipelining: 1,
    headersTimeout: o.timeoutMs,
    bodyTimeout: o.timeoutMs,
  });
  const schedule = arrivalTimes(o.rate, o.durationS, o.arrivals, o.seed ?? 1);
  const result: OpenLoopResult = {
    offered: schedule.length,
    latencyByStatus: new Map(),
    retryAfterMissing: 0,
    timeouts: 0,
    errors: 0,
    sendLagMs: [],
  };
  // Encoded once: the generator shares the cores with the scorer, so its per-request work is kept small.
  const body = Buffer.from(o.body);
  const inFlight = new Set<Promise<void>>();
  const send = (startMs: number) => {
    const arrivalWallMs = Date.now() - (performance.now() - startMs);
    const done = pool
      .request({
        path: o.path,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...o.headers(arrivalWallMs) },
        body,
      })
      .then(async (res) => {
        await res.body.dump();
        const ms = performance.now() - startMs;
        const list = result.latencyByStatus.get(res.statusCode) ?? [];
        list.push(ms);
        result.latencyByStatus.set(res.statusCode, list);
        if (res.statusCode === 503 && !validRetryAfter(res.headers['retry-after']))
          result.retryAfterMissing++;
      })
      .catch((err: Error & { code?: string }) => {
        if (err.code === 'UND_ERR_HEADERS_TIMEOUT' || err.code === 'UND_ERR_BODY_TIMEOUT') result.timeouts++;
        else result.errors++;
      })
      .finally(() => inFlight.delete(done));
    inFlight.add(done);
  };
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    let next = 0;
    const tick = () => {
      const now = performance.now() - t0;
      while (next < schedule.length && schedule[next]! <= now) {
        result.sendLagMs.push(now - schedule[next]!);
        send(t0 + schedule[next]!);
        next++;
      }
      if (next === schedule.length) return resolve();
      setTimeout(tick, Math.max(0, schedule[next]! - (performance.now() - t0) - 0.5));
    };
    tick();
  });
  await Promise.all(inFlight);
  await pool.close();
  return result;
}
