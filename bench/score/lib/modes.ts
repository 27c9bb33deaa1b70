// bench/score --modes: the serving modes (in-process inference, the inference pool, several processes,
// micro-batching, and their combinations) A/B in one run, rounds alternating between them. Per mode
// and round: sequential p50 / p99, p99 and candidates/s at saturation, then, with the scorer stopped,
// the raw model in as many parallel loops (threads) as the mode runs sessions at once, each with the
// mode's intra-op threads: raw p50 / p99 and raw candidates/s. The load average is recorded beside
// every figure (the machine may be shared).
import { once } from 'node:events';
import { availableParallelism, loadavg } from 'node:os';
import { percentile, startWorkerThread } from '@mmctr/observability';
import { intraOpThreads } from '@mmctr/scorer';
import { formatProfile, profileScorer, type Profile } from './profile';
import type { RawLoopInit } from './raw-loop.thread';
import { http, sequential, startScorer, warm } from './scorer-process';
import { B, DURATION, FILE, SPINNING, THREADS } from './settings';

export interface Mode {
  name: string;
  env: Record<string, string>;
  processes: number;
  workers: number;
  /** SCORER_INTRA_OP_THREADS (the cap of each session's share). */
  threads: number;
}

/** `in-process`, or `+`-joined parts: `pool-<threads>`, `processes-<n>`, `mb` (micro-batching; alone:
 * in-process with micro-batching), `intra-<n>` (SCORER_INTRA_OP_THREADS, else --threads). */
export function parseMode(name: string): Mode {
  const mode: Mode = { name, env: {}, processes: 1, workers: 0, threads: THREADS };
  for (const part of name.split('+')) {
    const pool = /^pool-(\d+)$/.exec(part);
    const procs = /^processes-(\d+)$/.exec(part);
    const intra = /^intra-(\d+)$/.exec(part);
    if (pool) mode.workers = Number(pool[1]);
    else if (procs) mode.processes = Number(procs[1]);
    else if (intra) mode.threads = Number(intra[1]);
    else if (part === 'mb') mode.env.SCORER_MICRO_BATCH = 'true';
    else if (part === 'in-process') mode.workers = 0;
    else
      throw new Error(
        `--modes: unknown part '${part}' in '${name}' (in-process, pool-N, processes-N, intra-N, mb)`,
      );
  }
  mode.env.SCORER_INTRA_OP_THREADS = String(mode.threads);
  mode.env.SCORER_INFERENCE_WORKERS = String(mode.workers);
  mode.env.SCORER_PROCESSES = String(mode.processes);
  return mode;
}

const load1 = () => Math.round(loadavg()[0]! * 100) / 100;

/** `units` raw loops at once, each in a thread with `threads` intra-op threads, for `ms`. */
export async function rawParallel(dir: string, units: number, threads: number, ms: number) {
  const init: RawLoopInit = { dir, file: FILE, candidates: B, threads, spinning: SPINNING, warm: 10, ms };
  const loops = Array.from({ length: units }, () => startWorkerThread(__dirname, 'raw-loop.thread', init));
  try {
    await Promise.all(loops.map((w) => once(w, 'message')));
    const done = loops.map((w) => once(w, 'message') as Promise<[{ ms: number[] }]>);
    for (const w of loops) w.postMessage('go');
    const all = (await Promise.all(done)).flatMap(([m]) => m.ms).sort((a, b) => a - b);
    return {
      p50: percentile(all, 50),
      p99: percentile(all, 99),
      cand_per_s: (all.length * B) / (ms / 1e3),
    };
  } finally {
    await Promise.all(loops.map((w) => w.terminate()));
  }
}

interface Row {
  mode: string;
  round: number;
  seq: { p50: number; p99: number; load1: number };
  sat: { p99: number; cand_per_s: number; non2xx: number; errors: number; load1: number };
  raw: { p50: number; p99: number; cand_per_s: number; units: number; threads: number; load1: number };
  profile?: Profile;
}

/** What every mode of one run shares: the model, the request, the scorer's stores and the load. */
export interface ModesRun {
  /** The model directory. */
  dir: string;
  /** The request body sent to /score. */
  body: string;
  /** The online-store key prefix the scorer reads. */
  prefix: string;
  /** The score-log topic the scorer writes. */
  topic: string;
  /** Concurrent connections of the saturated phase. */
  connections: number;
  /** Requests profiled with Server-Timing per mode and round; none when undefined. */
  profileRequests: number | undefined;
}

async function measure(
  mode: Mode,
  round: number,
  { dir, body, prefix, topic, connections, profileRequests }: ModesRun,
): Promise<Row> {
  const { url, child } = await startScorer(dir, prefix, topic, {
    ...mode.env,
    ...(profileRequests ? { SCORER_SERVER_TIMING: 'true' } : {}),
  });
  const exited = once(child, 'exit');
  let seq, sat, profile;
  try {
    await warm(url, body);
    const s = await sequential(url, body, 300);
    seq = { p50: s.p50, p99: s.p99, load1: load1() };
    const h = await http(url, body, connections);
    sat = { p99: h.p99, cand_per_s: h.candidatesPerS, non2xx: h.non2xx, errors: h.errors, load1: load1() };
    if (profileRequests) profile = await profileScorer(url, body, profileRequests);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  const units = mode.processes * Math.max(1, mode.workers);
  const threads = intraOpThreads(mode.threads, mode.workers, mode.processes);
  const r = await rawParallel(dir, units, threads, DURATION * 1000);
  const raw = { ...r, units, threads, load1: load1() };
  return { mode: mode.name, round, seq, sat, raw, ...(profile ? { profile } : {}) };
}

const f2 = (x: number) => x.toFixed(2);
const k = (x: number) => Math.round(x).toLocaleString('en-US');

function printRow(r: Row, connections: number): void {
  console.log(
    `${r.mode.padEnd(22)} r${r.round}  seq p50/p99 ${f2(r.seq.p50)}/${f2(r.seq.p99)} ms (load ${r.seq.load1})  ` +
      `c=${connections} p99 ${r.sat.p99} ms, ${k(r.sat.cand_per_s)} cand/s, non-2xx ${r.sat.non2xx}, errors ${r.sat.errors} (load ${r.sat.load1})  ` +
      `raw ${r.raw.units}x${r.raw.threads}t p50/p99 ${f2(r.raw.p50)}/${f2(r.raw.p99)} ms, ${k(r.raw.cand_per_s)} cand/s (load ${r.raw.load1})  ` +
      `served/raw ${f2(r.sat.cand_per_s / r.raw.cand_per_s)}`,
  );
}

/** The modes of `names`, rounds alternating, for one model; prints each row and the medians. */
export async function runModes(names: string[], rounds: number, run: ModesRun) {
  const { connections } = run;
  const modes = names.map(parseMode);
  console.log(
    `modes ${names.join(', ')}: ${rounds} alternating rounds, ${availableParallelism()} cores, ${THREADS} intra-op threads configured (load average now ${loadavg()
      .map(f2)
      .join(' / ')})`,
  );
  const rows: Row[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const mode of modes) {
      const row = await measure(mode, round, run);
      printRow(row, connections);
      if (row.profile) for (const line of formatProfile(row.profile)) console.log(`    ${line}`);
      rows.push(row);
    }
  }
  const med = (v: number[]) =>
    percentile(
      [...v].sort((a, b) => a - b),
      50,
    );
  console.log(
    `\n| mode | seq. p50 / p99 ms | c=${connections} p99 ms | saturated cand/s | raw p50 / p99 ms | raw cand/s (loops × threads) | saturated ÷ raw | load average (1 min) |`,
  );
  console.log('|---|---|---|---|---|---|---|---|');
  const medians = modes.map((m) => {
    const of = rows.filter((r) => r.mode === m.name);
    const x = {
      mode: m.name,
      seq_p50_ms: med(of.map((r) => r.seq.p50)),
      seq_p99_ms: med(of.map((r) => r.seq.p99)),
      sat_p99_ms: med(of.map((r) => r.sat.p99)),
      saturated_cand_per_s: med(of.map((r) => r.sat.cand_per_s)),
      raw_p50_ms: med(of.map((r) => r.raw.p50)),
      raw_p99_ms: med(of.map((r) => r.raw.p99)),
      raw_cand_per_s: med(of.map((r) => r.raw.cand_per_s)),
      raw_units: of[0]!.raw.units,
      raw_threads: of[0]!.raw.threads,
      load1: of.flatMap((r) => [r.seq.load1, r.sat.load1, r.raw.load1]),
    };
    console.log(
      `| ${m.name} | ${f2(x.seq_p50_ms)} / ${f2(x.seq_p99_ms)} | ${x.sat_p99_ms} | ${k(x.saturated_cand_per_s)} | ${f2(x.raw_p50_ms)} / ${f2(x.raw_p99_ms)} | ${k(x.raw_cand_per_s)} (${x.raw_units} × ${x.raw_threads}) | ${f2(x.saturated_cand_per_s / x.raw_cand_per_s)} | ${Math.min(...x.load1)}–${Math.max(...x.load1)} |`,
    );
    return x;
  });
  console.log('(medians over the rounds)');
  // Paired with the first mode in the same round: the load changes less within a round than across.
  const base = modes[0]!.name;
  const paired = modes.slice(1).map((m) => {
    const ratios = (pick: (r: Row) => number) =>
      Array.from({ length: rounds }, (_, i) => {
        const a = rows.find((r) => r.mode === m.name && r.round === i + 1)!;
        const b = rows.find((r) => r.mode === base && r.round === i + 1)!;
        return pick(a) / pick(b);
      });
    const x = {
      mode: m.name,
      vs: base,
      saturated_cand_per_s: ratios((r) => r.sat.cand_per_s),
      sat_p99: ratios((r) => r.sat.p99),
      seq_p99: ratios((r) => r.seq.p99),
      served_over_raw: ratios((r) => r.sat.cand_per_s / r.raw.cand_per_s),
    };
    const show = (v: number[]) => `${f2(med(v))} (${v.map(f2).join(', ')})`;
    console.log(
      `${m.name} ÷ ${base}, same round, median (per round): saturated cand/s ${show(x.saturated_cand_per_s)}; ` +
        `c=${connections} p99 ${show(x.sat_p99)}; seq. p99 ${show(x.seq_p99)}; saturated÷raw ${show(x.served_over_raw)}`,
    );
    return x;
  });
  return { rows, medians, paired };
}
