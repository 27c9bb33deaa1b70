// Where the sequential tail comes from, request by request: --requests sequential 500-candidate
// requests on one keep-alive connection to a scorer with Server-Timing on. For each of the slowest 1 %
// it prints the client's latency beside the scorer's own account (arrival to onSend, and its stages),
// the time outside the scorer (client latency - server), the scorer's GC pauses during it (Server-Timing
// `gc`, inside whichever stage they fell in) and this load generator's own. Then how much each part
// adds to the slowest 1 % over the median request. The baseline, first: how long spinning threads are
// descheduled on this box while the scorer is not serving (one thread, then two: both cores busy), and
// who ran meanwhile: the stack's services, the rest of the box, and what the hypervisor stole.
//
// Two A/B modes: instead of one report, --rounds rounds of two blocks of --requests each.
// --stores-nice N: Kafka's and ClickHouse's autogroup weight (/proc/<pid>/autogroup; the kernel
// schedules each session as a group, so a plain `nice` does not weigh them against the scorer) at 0,
// then at N. --fifo P: the serving path (every thread of the scorer, of Redis and of this client) at
// the normal policy, then at SCHED_FIFO priority P, which no normal task preempts (an attempt at what
// dedicated cores give). Both are restored after, also on SIGINT / SIGTERM. FIFO can stall the
// serving path for minutes (most likely by starving normal-priority kernel threads): a measurement,
// not a setting.
//
// Usage: node -r ./scripts/register.js bench/score/tail.ts [--model qin-demo] [--requests 1000]
//        [--env 'K=V;K2=V2'] [--jitter-ms 3000] [--stores-nice 19 | --fifo 10] [--rounds 2]
import '../../test/setup/load-stack-env.js';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { arg, envArg, numberArg, optionalNumberArg } from '../support/cli-args';
import * as cpu from '../support/cpu';
import { resolveModel } from './lib/models';
import { parseServerTiming, stats, timedPost } from './lib/profile';
import { ensureBenchTopic, seed, startScorer, warm } from './lib/scorer-process';

const MODEL = arg('model', 'qin-demo');
const REQUESTS = numberArg('requests', 1000);
/** How long the box's own scheduling hiccups are measured for, before the requests (ms). */
const JITTER_MS = numberArg('jitter-ms', 3000);
/** Kafka's and ClickHouse's autogroup nice for the second block of each round. */
const STORES_NICE = optionalNumberArg('stores-nice');
/** SCHED_FIFO priority of the serving path for the second block of each round. */
const FIFO = optionalNumberArg('fifo');
const ROUNDS = numberArg('rounds', 2);

// A thread that only spins: every gap over 0.5 ms between two clock reads is time the OS gave the core
// to something else.
const SPIN = `
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const end = performance.now() + workerData;
const gaps = [];
for (let last = performance.now(); last < end; ) {
  const t = performance.now();
  if (t - last > 0.5) gaps.push(t - last);
  last = t;
}
parentPort.postMessage(gaps);
`;

/** Descheduling gaps of `threads` spinning threads at once for `ms`: the box's baseline tail. */
async function schedulerGaps(threads: number, ms: number): Promise<number[]> {
  const runs = Array.from(
    { length: threads },
    () =>
      new Promise<number[]>((resolve, reject) => {
        const w = new Worker(SPIN, { eval: true, workerData: ms });
        w.once('message', (gaps: number[]) => void w.terminate().then(() => resolve(gaps)));
        w.once('error', reject);
      }),
  );
  return (await Promise.all(runs)).flat();
}

function printGaps(label: string, gaps: number[]): void {
  const g = stats(gaps);
  console.log(
    `  ${label}: ${gaps.length} gaps over 0.5 ms in ${JITTER_MS} ms, ${gaps.filter((x) => x > 5).length} over 5 ms, max ${(g.max || 0).toFixed(2)} ms, total ${gaps.reduce((a, b) => a + b, 0).toFixed(1)} ms`,
  );
}

interface Sample {
  startMs: number;
  client: number;
  stages: Record<string, number>;
  ownGcMs: number;
}

async function main(): Promise<void> {
  const dir = resolveModel(MODEL);
  const { body, prefix } = await seed('tail');
  const topic = await ensureBenchTopic();
  const { url, child } = await startScorer(dir, prefix, topic, {
    SCORER_SERVER_TIMING: 'true',
    ...envArg('env'),
  });
  // This process's own GC pauses, to tell a slow client from a slow scorer.
  const ownGc: { start: number; end: number }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) ownGc.push({ start: e.startTime, end: e.startTime + e.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await warm(url, body);
    // The baseline, same run, the scorer not serving: one spinning thread (a core to itself) and two
    // (both cores busy, as when a run's two intra-op threads and the request loop are all runnable).
    // With --fifo, two more at SCHED_FIFO: no normal task preempts them, yet the kernel's fair server
    // (6.12 on) still runs normal tasks for up to 50 ms a second per core; the rest is interrupts,
    // real-time kernel threads and the host.
    console.log(`# the box's own scheduling: spinning threads, descheduled for over 0.5 ms`);
    const baselines = [
      { threads: 1 },
      { threads: 2 },
      ...(FIFO === undefined ? [] : [{ threads: 2, fifo: FIFO }]),
    ];
    for (const { threads, fifo } of baselines) {
      if (fifo !== undefined) {
        const rtRuntime = readFileSync('/proc/sys/kernel/sched_rt_runtime_us', 'utf8').trim();
        console.log(
          `  at SCHED_FIFO ${fifo}, sched_rt_runtime_us ${rtRuntime}${rtRuntime === '-1' ? '' : ' (throttled: real-time tasks yield for the rest of each second, gaps of about 50 ms)'}`,
        );
        setPolicy([process.pid], '-f', fifo); // the spinners are created by, and inherit from, this thread
      }
      const before = {
        scorer: cpu.threadCpu(child.pid!),
        own: cpu.cpuSeconds(process.pid),
        box: cpu.boxCpu(),
      };
      const services = cpu.servicesCpu();
      const gaps = await schedulerGaps(threads, JITTER_MS).finally(() => {
        if (fifo !== undefined) setPolicy([process.pid], '-o', 0);
      });
      const after = {
        scorer: cpu.threadCpu(child.pid!),
        own: cpu.cpuSeconds(process.pid),
        box: cpu.boxCpu(),
      };
      const stack = cpu.servicesSince(services);
      const scorerCpu = after.scorer.loop + after.scorer.others - before.scorer.loop - before.scorer.others;
      // What the spinners could not have: everything busy but this process (them) and the scorer.
      const rest =
        after.box.busy - before.box.busy - (after.own - before.own) - scorerCpu - cpu.totalCpu(stack);
      const ms = (sec: number) => (1000 * sec).toFixed(0);
      const label = `${threads} thread(s)${fifo === undefined ? '' : ` at SCHED_FIFO ${fifo}`}`;
      printGaps(`${label}, the scorer not serving (its CPU meanwhile ${ms(scorerCpu)} ms)`, gaps);
      console.log(
        `    meanwhile, CPU ms: Kafka ${ms(stack.kafka)}, ClickHouse ${ms(stack.clickhouse)}, Redis ${ms(stack.redis)}, the rest of the box ${ms(Math.max(0, rest))}; stolen by the hypervisor ${ms(after.box.steal - before.box.steal)}`,
      );
    }
    const measure = async (): Promise<Sample[]> => {
      const samples: Sample[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        const startMs = performance.now();
        const { ms: client, timing } = await timedPost(url, body, agent);
        samples.push({ startMs, client, stages: parseServerTiming(timing), ownGcMs: 0 });
      }
      for (const s of samples)
        s.ownGcMs = ownGc
          .filter((g) => g.end > s.startMs && g.start < s.startMs + s.client)
          .reduce(
            (sum, g) => sum + (Math.min(g.end, s.startMs + s.client) - Math.max(g.start, s.startMs)),
            0,
          );
      return samples;
    };
    if (STORES_NICE !== undefined) await abRounds(measure, storesNice(STORES_NICE));
    else if (FIFO !== undefined) await abRounds(measure, servingFifo(child.pid!, FIFO));
    else report(await measure());
  } finally {
    observer.disconnect();
    agent.destroy();
    child.kill('SIGTERM');
  }
}

/** Kafka's and ClickHouse's autogroup files (the stack's services of this machine). */
function storeAutogroups(): string[] {
  const pids = (['kafka', 'clickhouse'] as const).map(cpu.servicePid);
  if (pids.some((p) => p === undefined))
    throw new Error('--stores-nice needs the local stack (deploy/local/up): no Kafka or ClickHouse pid file');
  return pids.map((p) => `/proc/${p}/autogroup`);
}

/** "/autogroup-12 nice 0" -> 0. */
const autogroupNice = (file: string): number => Number(/nice (-?\d+)/.exec(readFileSync(file, 'utf8'))?.[1]);

interface Contrast {
  title: string;
  /** The two blocks' names, A then B. */
  names: [string, string];
  set(block: 0 | 1): void;
  restore(): void;
}

/** --stores-nice: Kafka's and ClickHouse's autogroup nice, 0 then `nice`. */
function storesNice(nice: number): Contrast {
  const files = storeAutogroups();
  const saved = files.map(autogroupNice);
  const write = (n: number) => {
    for (const f of files) writeFileSync(f, String(n)); // EPERM without CAP_SYS_NICE for negative values
  };
  return {
    title: `Kafka's and ClickHouse's autogroup nice 0 vs ${nice}`,
    names: ['nice 0', `nice ${nice}`],
    set: (block) => write(block === 0 ? 0 : nice),
    restore: () => files.forEach((f, i) => writeFileSync(f, String(saved[i]))),
  };
}

/** SCHED_OTHER (-o, priority 0) or SCHED_FIFO (-f) for every thread of `pids` (chrt -a: onnxruntime's and libuv's threads too). */
function setPolicy(pids: number[], flag: '-o' | '-f', priority: number): void {
  const failed: string[] = [];
  // Each pid on its own: a scorer already gone must not keep Redis at SCHED_FIFO.
  for (const pid of pids)
    try {
      execFileSync('chrt', ['-a', flag, '-p', String(priority), String(pid)], { stdio: 'pipe' });
    } catch (err) {
      if (existsSync(`/proc/${pid}`)) failed.push(`${pid}: ${(err as Error).message}`);
    }
  if (failed.length > 0) throw new Error(`chrt ${flag} ${priority} failed for ${failed.join('; ')}`);
}

/** --fifo: every thread of the scorer, Redis and this process, SCHED_OTHER then SCHED_FIFO at `priority`. */
function servingFifo(scorerPid: number, priority: number): Contrast {
  const redis = cpu.servicePid('redis');
  if (redis === undefined)
    throw new Error('--fifo needs the local stack (deploy/local/up): no Redis pid file');
  const pids = [redis, scorerPid, process.pid];
  const normal = () => setPolicy(pids, '-o', 0);
  return {
    title: `the serving path (scorer, Redis, client) at SCHED_OTHER vs SCHED_FIFO ${priority}`,
    names: ['normal', `fifo ${priority}`],
    set: (block) => (block === 0 ? normal() : setPolicy(pids, '-f', priority)),
    restore: normal,
  };
}

/** Blocks A and B, alternating, --rounds times; each B summarised beside its round's A. */
async function abRounds(measure: () => Promise<Sample[]>, contrast: Contrast): Promise<void> {
  console.log(`# ${contrast.title}, ${ROUNDS} rounds of ${REQUESTS} sequential requests each`);
  // A run cut short (Ctrl-C, `timeout`) must not leave Redis at SCHED_FIFO or Kafka niced.
  const onSignal = (signal: NodeJS.Signals) => {
    contrast.restore();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const p99: number[] = [];
      for (const block of [0, 1] as const) {
        contrast.set(block);
        const samples = await measure();
        const c = stats(samples.map((s) => s.client));
        const sorted = [...samples].sort((a, b) => a.client - b.client);
        const median = partsOf(sorted[Math.floor(sorted.length / 2)]!).outside!;
        const tail = sorted.slice(Math.floor(sorted.length * 0.99));
        const outside = tail.reduce((sum, s) => sum + partsOf(s).outside! - median, 0) / tail.length;
        p99.push(c.p99);
        console.log(
          `  round ${round}, ${contrast.names[block]}: client p50 ${c.p50.toFixed(2)} / p99 ${c.p99.toFixed(2)} / max ${c.max.toFixed(2)} ms; the slowest 1 %'s time outside the scorer over the median's ${outside.toFixed(2)} ms; load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`,
        );
      }
      console.log(
        `  round ${round}: p99 at ${contrast.names[1]} ÷ at ${contrast.names[0]} = ${(p99[1]! / p99[0]!).toFixed(2)}`,
      );
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    contrast.restore();
  }
}

const PARTS = [
  'queue',
  'parse',
  'validate',
  'items',
  'aggregates',
  'encode',
  'history_wait',
  'inference',
  'respond',
] as const;

function partsOf(s: Sample): Record<string, number> {
  const server = s.stages.server ?? NaN;
  const named = PARTS.reduce((sum, p) => sum + (s.stages[p] ?? 0), 0);
  return {
    ...Object.fromEntries(PARTS.map((p) => [p, s.stages[p] ?? 0])),
    'server, other': server - named,
    outside: s.client - server,
  };
}

function report(samples: Sample[]): void {
  const client = stats(samples.map((s) => s.client));
  console.log(
    `# ${samples.length} sequential requests, ${MODEL}: client p50 ${client.p50.toFixed(2)} / p99 ${client.p99.toFixed(2)} / max ${client.max.toFixed(2)} ms`,
  );
  const sorted = [...samples].sort((a, b) => a.client - b.client);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const tail = sorted.slice(Math.floor(sorted.length * 0.99));
  console.log(
    `  slowest 1 % (${tail.length}), ms: client = parts; the scorer's GC pauses in them; this generator's`,
  );
  for (const s of tail) {
    const parts = Object.entries(partsOf(s))
      .filter(([, v]) => Math.abs(v) >= 0.05)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ');
    console.log(
      `  ${s.client.toFixed(2)} = ${parts}; scorer GC ${(s.stages.gc ?? 0).toFixed(2)}, own GC ${s.ownGcMs.toFixed(2)}`,
    );
  }
  // Mean excess of the slowest 1 % over the median request, per part.
  const base = partsOf(median);
  console.log(
    `  the median request: ${Object.entries(base)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ')}`,
  );
  const excess: Record<string, number> = {};
  for (const s of tail)
    for (const [k, v] of Object.entries(partsOf(s))) excess[k] = (excess[k] ?? 0) + v - base[k]!;
  const total = tail.reduce((sum, s) => sum + s.client - median.client, 0);
  console.log(
    `  the slowest 1 %'s excess over the median request (${median.client.toFixed(2)} ms), mean ms and share: ` +
      Object.entries(excess)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${(v / tail.length).toFixed(2)} (${Math.round((100 * v) / total)} %)`)
        .join(', '),
  );
  const count = (pick: (s: Sample) => number) => tail.filter((s) => pick(s) > 0).length;
  const gcOf = (list: Sample[]) => list.reduce((sum, s) => sum + (s.stages.gc ?? 0), 0);
  console.log(
    `  of the slowest 1 %, ${count((s) => s.stages.gc ?? 0)} had a scorer GC pause (${gcOf(tail).toFixed(1)} ms in all; ${gcOf(samples).toFixed(1)} ms over all requests) and ${count((s) => s.ownGcMs)} one of this generator`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
