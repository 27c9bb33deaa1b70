// Admission control under overload: the scorer, its requests carrying a --deadline (in the header, or
// as its default with --send-deadline 0), offered --factor × the requests/s it sustains. The baseline, measured in the same run: its saturated throughput (autocannon
// at --connections for --duration s, no deadline shed at that load). Then a bounded autocannon run at
// --factor × that rate (fixed rate over --overload-connections connections) and the verdict: every
// 200 answered within its deadline (client-side latency and the scorer's late counter), everything
// else a 503 with Retry-After (by shed reason), no timeouts, no other status.
//
// Usage: node -r ./scripts/register.js bench/score/overload.ts [--model qin-demo] [--deadline 100]
//        [--factor 2] [--duration 10] [--connections 8] [--overload-connections 64] [--ref HEAD]
//        [--env 'K=V;K2=V2'] [--send-deadline 1|0] (--ref: the scorer from that commit; --env: scorer
//        settings; --send-deadline 0: requests without x-request-deadline-ms, the default applies)
// Writes bench/results/score-overload-<time>.json (not committed).
import '../../test/setup/load-stack-env.js';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { arg, envArg, numberArg } from '../support/cli-args';
import { threadCpu } from '../support/cpu';
import { metricValue } from '../../test/support/metrics-text';
import { resolveModel } from './lib/models';
import { stats, type StageStats } from './lib/profile';
import { ensureBenchTopic, exportTree, http, seed, startScorer, warm } from './lib/scorer-process';
import { B, DURATION, REPO } from './lib/settings';

const MODEL = arg('model', 'qin-demo');
const DEADLINE_MS = numberArg('deadline', 100);
const FACTOR = numberArg('factor', 2);
/** 1: requests carry x-request-deadline-ms (a hard deadline); 0: the scorer's default applies. */
const SEND_DEADLINE = numberArg('send-deadline', 1) === 1;
const CONNECTIONS = numberArg('connections', 8);
const OVERLOAD_CONNECTIONS = numberArg('overload-connections', 64);
/** A commit to run the scorer from instead of this tree (e.g. HEAD~1, to compare two runs). */
const REF = arg('ref', '');
const SHED_REASONS = ['expired', 'queue_full', 'predicted_late', 'deadline_exceeded'] as const;
const STAGES = ['history', 'items', 'encode', 'inference'] as const;
const ABANDONED_AT = ['before_inference', 'after_inference'] as const;

interface Overload {
  offered_per_s: number;
  status: Record<string, number>;
  retry_after_missing: number;
  timeouts: number;
  errors: number;
  latency_ms: Record<string, StageStats>;
  /** The load generator's own event-loop delay: time its responses waited to be read on this box. */
  client_loop_delay_ms: StageStats;
}

/** A fixed-rate autocannon run; latency per status from each response, Retry-After checked on 503s. */
async function offer(url: string, body: string, rate: number): Promise<Overload> {
  const byStatus = new Map<number, number[]>();
  let retryAfterMissing = 0;
  const lag = monitorEventLoopDelay({ resolution: 1 });
  lag.enable();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${url}/v1/score`,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(SEND_DEADLINE ? { 'x-request-deadline-ms': String(DEADLINE_MS) } : {}),
        },
        body,
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
  lag.disable();
  // Retry-After on 503s: autocannon does not expose response headers per request, so one shed is
  // provoked after the run with an expired deadline and its header read (the same sendShed path).
  const probe = await fetch(`${url}/v1/score`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-deadline-ms': '0' },
    body,
  });
  if (probe.status !== 503 || !/^[1-9]\d*$/.test(probe.headers.get('retry-after') ?? '')) retryAfterMissing++;
  const latency: Overload['latency_ms'] = {};
  for (const [status, ms] of byStatus) latency[status] = stats(ms);
  return {
    offered_per_s: rate,
    status: Object.fromEntries([...byStatus].map(([s, ms]) => [s, ms.length])),
    retry_after_missing: retryAfterMissing,
    timeouts: result.timeouts,
    errors: result.errors,
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
  const prefix = `mmctr-bench-overload-${Date.now()}:`;
  const { body } = await seed(prefix);
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
    const verdict =
      late === 0 &&
      okMax <= DEADLINE_MS &&
      others.length === 0 &&
      run.timeouts === 0 &&
      run.errors === 0 &&
      run.retry_after_missing === 0;
    console.log(
      `# overload, ${MODEL}${REF ? ` (scorer at ${REF})` : ''}, ${B} candidates, deadline ${DEADLINE_MS} ms (${SEND_DEADLINE ? 'sent in x-request-deadline-ms' : 'the default, not sent'}): baseline (same run) ${capacity.rps.toFixed(1)} requests/s at c=${CONNECTIONS}; offered ${rate}/s (${FACTOR}×) over ${OVERLOAD_CONNECTIONS} connections for ${DURATION} s`,
    );
    for (const [status, n] of Object.entries(run.status)) {
      const l = run.latency_ms[status]!;
      console.log(
        `  ${status}: ${n} (${(n / DURATION).toFixed(1)}/s), client latency p50 ${l.p50} / p99 ${l.p99} / max ${l.max} ms`,
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
      `ratios: answered 200/s ÷ baseline ${(ok / DURATION / capacity.rps).toFixed(2)}; 200 max latency ÷ deadline ${(okMax / DEADLINE_MS).toFixed(2)}`,
    );
    console.log(
      `target (every answer within its deadline, the rest 503 + Retry-After, no timeouts or other status): ${verdict ? 'met' : 'NOT met'}`,
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
          baseline: { connections: CONNECTIONS, requests_per_s: capacity.rps, p99_ms: capacity.p99 },
          overload: run,
          shed,
          deadline_exceeded_at: abandoned,
          late,
          loop_busy: loopBusy,
          stage_mean_ms: stageMs,
          met: verdict,
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
