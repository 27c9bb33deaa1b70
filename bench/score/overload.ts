// Admission control under overload. The baseline, measured in the same run: the scorer's saturated
// throughput (autocannon at --connections for --duration s, no deadline shed at that load). Then
// --factor x that rate is offered for --duration s with a --deadline per request, and the verdict: every
// 200 answered within its deadline (the client's latency and the scorer's late counter), everything else
// a 503 with Retry-After (by shed reason), no timeouts, no other status.
// --load: poisson (default) or uniform open-loop arrivals over --overload-connections pooled connections,
// latency from each request's scheduled arrival (lib/open-loop.ts); autocannon: its fixed rate, which
// comes in per-second bursts. --send-deadline: at (default; x-request-deadline-at-ms stamped at arrival),
// budget (x-request-deadline-ms) or none (the scorer's default applies, admission only).
// Usage: node -r ./scripts/register.js bench/score/overload.ts [--model qin-demo] [--deadline 100]
//        [--factor 2] [--duration 10] [--connections 8] [--overload-connections 64] [--ref HEAD]
//        [--env 'K=V;K2=V2'] [--send-deadline at|budget|none] [--load poisson|uniform|autocannon]
//        (--ref: the scorer from that commit; --env: scorer settings)
// Writes bench/results/score-overload-<time>.json (not committed).
import '../../test/setup/load-stack-env.js';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { arg, envArg, numberArg } from '../support/cli-args';
import { threadCpu } from '../support/cpu';
import { metricValue } from '@mmctr/observability';
import { resolveModel } from './lib/models';
import { openLoop, validRetryAfter, type Arrivals } from './lib/open-loop';
import { stats, type StageStats } from './lib/profile';
import { ensureBenchTopic, exportTree, http, seed, startScorer, warm } from './lib/scorer-process';
import { B, DURATION, REPO } from './lib/settings';

const MODEL = arg('model', 'qin-demo');
const DEADLINE_MS = numberArg('deadline', 100);
const FACTOR = numberArg('factor', 2);
const DEADLINE_MODES = ['at', 'budget', 'none'] as const;
type DeadlineMode = (typeof DEADLINE_MODES)[number];
/**
 * How requests carry the deadline. at: x-request-deadline-at-ms, the client's clock (the scorer counts
 * the time before it read the request); budget: x-request-deadline-ms, counted from when the scorer
 * reads the headers; none: the scorer's default decides admission only.
 */
const SEND_DEADLINE = arg('send-deadline', 'at') as DeadlineMode;
if (!DEADLINE_MODES.includes(SEND_DEADLINE))
  throw new Error(`--send-deadline must be one of ${DEADLINE_MODES.join(', ')}; got '${SEND_DEADLINE}'`);
const LOADS = ['poisson', 'uniform', 'autocannon'] as const;
/** How the overload arrives: open-loop Poisson or evenly spaced arrivals, or autocannon's per-second bursts. */
const LOAD = arg('load', 'poisson') as (typeof LOADS)[number];
if (!LOADS.includes(LOAD)) throw new Error(`--load must be one of ${LOADS.join(', ')}; got '${LOAD}'`);
const CONNECTIONS = numberArg('connections', 8);
const OVERLOAD_CONNECTIONS = numberArg('overload-connections', 64);
/** A commit to run the scorer from instead of this tree (e.g. HEAD~1, to compare two runs). */
const REF = arg('ref', '');
const SHED_REASONS = ['expired', 'queue_full', 'predicted_late', 'deadline_exceeded'] as const;
const DEADLINE_SENT_AS: Record<DeadlineMode, string> = {
  at: 'sent in x-request-deadline-at-ms, from the client clock',
  budget: 'sent in x-request-deadline-ms, from the scorer reading the headers',
  none: 'the default, not sent',
};
const STAGES = ['history', 'items', 'encode', 'inference'] as const;
const ABANDONED_AT = ['before_inference', 'after_inference'] as const;

interface Overload {
  offered_per_s: number;
  status: Record<string, number>;
  /** 200s the client had within the deadline, by its own clock (send to response). */
  on_time_200: number;
  retry_after_missing: number;
  timeouts: number;
  errors: number;
  latency_ms: Record<string, StageStats>;
  /** The load generator's own event-loop delay: time its responses waited to be read on this box. */
  client_loop_delay_ms: StageStats;
}

/** The deadline headers of a request that arrived at `arrivalWallMs` (Unix ms). */
function deadlineHeaders(arrivalWallMs: number): Record<string, string> {
  if (SEND_DEADLINE === 'at') return { 'x-request-deadline-at-ms': String(arrivalWallMs + DEADLINE_MS) };
  if (SEND_DEADLINE === 'budget') return { 'x-request-deadline-ms': String(DEADLINE_MS) };
  return {};
}

interface Offered {
  byStatus: Map<number, number[]>;
  retryAfterMissing: number;
  timeouts: number;
  errors: number;
}

/** Open-loop arrivals at `rate` over a pool of connections (lib/open-loop.ts). */
async function offerOpenLoop(url: string, body: string, rate: number): Promise<Offered> {
  const run = await openLoop({
    origin: url,
    path: '/v1/score',
    body,
    rate,
    durationS: DURATION,
    connections: OVERLOAD_CONNECTIONS,
    arrivals: LOAD as Arrivals,
    headers: deadlineHeaders,
    timeoutMs: 10_000,
  });
  const lag = stats(run.sendLagMs);
  console.log(
    `  ${run.offered} requests offered; the generator's lag behind its schedule: p50 ${lag.p50.toFixed(1)} / p99 ${lag.p99.toFixed(1)} / max ${lag.max.toFixed(1)} ms`,
  );
  const { latencyByStatus: byStatus, retryAfterMissing, timeouts, errors } = run;
  return { byStatus, retryAfterMissing, timeouts, errors };
}

/**
 * autocannon at a fixed overall rate: each connection spends its per-second quota as soon as the second
 * starts, so the load comes in bursts. Kept to compare with the figures measured that way.
 */
async function offerAutocannon(url: string, body: string, rate: number): Promise<Offered> {
  const byStatus = new Map<number, number[]>();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${url}/v1/score`,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...deadlineHeaders(Date.now()) },
        body,
        // autocannon rebuilds a request with setupRequest just before writing it: the stamp is the send time.
        ...(SEND_DEADLINE === 'at'
          ? {
              requests: [
                {
                  setupRequest: (req: autocannon.Request) => ({
                    ...req,
                    headers: { ...req.headers, ...deadlineHeaders(Date.now()) },
                  }),
                },
              ],
            }
          : {}),
        connections: OVERLOAD_CONNECTIONS,
        overallRate: rate,
        duration: DURATION,
        timeout: 10,
      },
      (err: Error | null, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      const list = byStatus.get(statusCode) ?? [];
      list.push(responseTime);
      byStatus.set(statusCode, list);
    });
  });
  // autocannon does not expose response headers per request, so one shed is provoked after the run
  // with an expired deadline and its Retry-After read (the same sendShed path).
  const probe = await fetch(`${url}/v1/score`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-deadline-ms': '0' },
    body,
  });
  const retryAfterMissing = probe.status !== 503 || !validRetryAfter(probe.headers.get('retry-after'));
  return {
    byStatus,
    retryAfterMissing: retryAfterMissing ? 1 : 0,
    timeouts: result.timeouts,
    errors: result.errors,
  };
}

/** The overload run; latency per status from each response, Retry-After checked on 503s. */
async function offer(url: string, body: string, rate: number): Promise<Overload> {
  const lag = monitorEventLoopDelay({ resolution: 1 });
  lag.enable();
  const run =
    LOAD === 'autocannon' ? await offerAutocannon(url, body, rate) : await offerOpenLoop(url, body, rate);
  lag.disable();
  const latency: Overload['latency_ms'] = {};
  for (const [status, ms] of run.byStatus) latency[status] = stats(ms);
  return {
    offered_per_s: rate,
    status: Object.fromEntries([...run.byStatus].map(([s, ms]) => [s, ms.length])),
    on_time_200: (run.byStatus.get(200) ?? []).filter((ms) => ms <= DEADLINE_MS).length,
    retry_after_missing: run.retryAfterMissing,
    timeouts: run.timeouts,
    errors: run.errors,
    latency_ms: latency,
    client_loop_delay_ms: {
      p50: lag.percentile(50) / 1e6,
      p99: lag.percentile(99) / 1e6,
      max: lag.max / 1e6,
    },
  };
}

async function main(): Promise<void> {
  const dir = resolveModel(MODEL);
  const { body, prefix } = await seed('overload');
  const topic = await ensureBenchTopic();
  const root = REF ? exportTree(REF) : REPO;
  const { url, child } = await startScorer(
    dir,
    prefix,
    topic,
    { SCORER_DEFAULT_DEADLINE_MS: String(DEADLINE_MS), ...envArg('env') },
    root,
  );
  try {
    await warm(url, body);
    const load0 = loadavg()[0]!;
    const capacity = await http(url, body, CONNECTIONS);
    const before = await (await fetch(`${url}/metrics`)).text();
    const rate = Math.round(FACTOR * capacity.rps);
    const cpu0 = threadCpu(child.pid!);
    const run = await offer(url, body, rate);
    const cpu1 = threadCpu(child.pid!);
    // The request loop's busy share: below 1, requests were shed while it had time to spare.
    const loopBusy = (cpu1.loop - cpu0.loop) / DURATION;
    const after = await (await fetch(`${url}/metrics`)).text();
    const delta = (series: string) => metricValue(after, series) - metricValue(before, series);
    const shed = Object.fromEntries(
      SHED_REASONS.map((r) => [r, delta(`mmctr_scorer_shed_requests_total{reason="${r}"}`)]),
    );
    const abandoned = Object.fromEntries(
      ABANDONED_AT.map((at) => [at, delta(`mmctr_scorer_deadline_exceeded_requests_total{at="${at}"}`)]),
    );
    const late = delta('mmctr_scorer_late_responses_total');
    // Where the admitted requests' time went during the overload: each stage's mean (ms).
    const stageMs = Object.fromEntries(
      STAGES.map((st) => {
        const series = (part: string) => `mmctr_scorer_stage_duration_seconds_${part}{stage="${st}"}`;
        const n = delta(series('count'));
        return [st, n ? Math.round((1e5 * delta(series('sum'))) / n) / 100 : null];
      }),
    );
    const ok = run.status['200'] ?? 0;
    const others = Object.entries(run.status).filter(([s]) => s !== '200' && s !== '503');
    const okMax = run.latency_ms['200']?.max ?? 0;
    // The rest of the target: everything not a 200 is a 503 with Retry-After, nothing timed out.
    const restShed =
      others.length === 0 && run.timeouts === 0 && run.errors === 0 && run.retry_after_missing === 0;
    // By the scorer's clock: no 200 handed to the socket after its deadline.
    const scorerVerdict = late === 0 && restShed;
    // By the client's clock: no 200 read after its deadline (strict: the generator's own delays count).
    const verdict = scorerVerdict && okMax <= DEADLINE_MS;
    console.log(
      `# overload, ${MODEL}${REF ? ` (scorer at ${REF})` : ''}, ${B} candidates, deadline ${DEADLINE_MS} ms (${DEADLINE_SENT_AS[SEND_DEADLINE]}): baseline (same run) ${capacity.rps.toFixed(1)} requests/s at c=${CONNECTIONS}; offered ${rate}/s (${FACTOR}×) over ${OVERLOAD_CONNECTIONS} connections for ${DURATION} s, ${LOAD === 'autocannon' ? "autocannon's per-second bursts" : `open-loop ${LOAD} arrivals`}`,
    );
    for (const [status, n] of Object.entries(run.status)) {
      const l = run.latency_ms[status]!;
      console.log(
        `  ${status}: ${n} (${(n / DURATION).toFixed(1)}/s), client latency p50 ${l.p50.toFixed(1)} / p99 ${l.p99.toFixed(1)} / max ${l.max.toFixed(1)} ms`,
      );
    }
    const cl = run.client_loop_delay_ms;
    console.log(
      `  the load generator's own event-loop delay (counted in its latencies): p50 ${cl.p50.toFixed(1)} / p99 ${cl.p99.toFixed(1)} / max ${cl.max.toFixed(1)} ms`,
    );
    console.log(
      `  the scorer's request loop busy ${(100 * loopBusy).toFixed(0)} % of the run (CPU), its other threads ${((100 * (cpu1.others - cpu0.others)) / DURATION).toFixed(0)} %`,
    );
    console.log(
      `  the admitted requests' stage means: ${STAGES.map((st) => `${st} ${stageMs[st] ?? '-'} ms`).join(', ')}`,
    );
    console.log(
      `  shed by reason: ${SHED_REASONS.map((r) => `${r} ${shed[r]}`).join(', ')} (runs saved ${abandoned.before_inference}, spent ${abandoned.after_inference}); late 200s (scorer) ${late}; timeouts ${run.timeouts}; errors ${run.errors}; Retry-After on a shed: ${run.retry_after_missing ? 'missing' : 'present'}`,
    );
    console.log(
      `ratios: answered 200/s ÷ baseline ${(ok / DURATION / capacity.rps).toFixed(2)}; 200s within the deadline by the client's clock (${run.on_time_200}; ${ok - run.on_time_200} after it) per s ÷ baseline ${(run.on_time_200 / DURATION / capacity.rps).toFixed(2)}; 200 max latency ÷ deadline ${(okMax / DEADLINE_MS).toFixed(2)}`,
    );
    console.log(
      `target (every answer within its deadline, the rest 503 + Retry-After, no timeouts or other status): by the scorer's clock ${scorerVerdict ? 'met' : 'NOT met'}; by the client's ${verdict ? 'met' : 'NOT met'}`,
    );
    const file = join(REPO, 'bench', 'results', `score-overload-${Date.now()}.json`);
    mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
    writeFileSync(
      file,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          model: MODEL,
          ref: REF || null,
          deadline_ms: DEADLINE_MS,
          deadline_sent: SEND_DEADLINE,
          load: LOAD,
          baseline: { connections: CONNECTIONS, requests_per_s: capacity.rps, p99_ms: capacity.p99 },
          overload: run,
          shed,
          deadline_exceeded_at: abandoned,
          late,
          loop_busy: loopBusy,
          stage_mean_ms: stageMs,
          met: verdict,
          met_by_scorer_clock: scorerVerdict,
          load_average: { before: load0, after: loadavg()[0] },
        },
        null,
        2,
      ),
    );
    console.log(`results: ${file}`);
  } finally {
    child.kill('SIGTERM');
    if (REF) rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
