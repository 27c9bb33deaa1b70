// Two scorers A/B in one run, interleaved, so a shared (loaded) machine weighs on both alike: A is
// another commit's source tree (--a-ref, exported with git archive beside this checkout's
// node_modules) or this tree with other settings (--a-env), B this tree (--b-env). Sequential
// requests alternate A, B, B, A, ...: client p50 / p99 / max and each Server-Timing stage per side
// (lib/profile.ts), GC pauses per side; then --rounds rounds of autocannon at --connections, A and B
// alternating: p99 and candidates/s per side. Prints B / A ratios and the load average.
//
// Usage: node -r ./scripts/register.js bench/score/ab.ts [--model qin-demo] [--a-ref HEAD~1]
//        [--a-env 'K=V;K2=V2'] [--b-env 'NODE_OPTIONS=--max-semi-space-size=32'] [--requests 400]
//        [--a-node-args '--single-threaded-gc'] [--b-node-args ...] [--rounds 3] [--duration 4] [--connections 8]
// Writes bench/results/score-ab-<time>.json (not committed).
import '../../test/setup/load-stack-env.js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { percentile } from '@mmctr/observability';
import { arg, envArg, numberArg } from '../support/cli-args';
import { resolveModel } from './lib/models';
import { gcTotals, parseServerTiming, stats } from './lib/profile';
import { postScore } from './lib/post-score';
import { ensureBenchTopic, exportTree, http, seed, startScorer, warm } from './lib/scorer-process';
import { B, REPO } from './lib/settings';

const MODEL = arg('model', 'qin-demo');
const A_REF = arg('a-ref', '');
const REQUESTS = numberArg('requests', 400);
const ROUNDS = numberArg('rounds', 3);
const CONNECTIONS = numberArg('connections', 8);

const argsOf = (flag: string): string[] => arg(flag, '').split(' ').filter(Boolean);
const load1 = () => Math.round(loadavg()[0]! * 100) / 100;

/** `ref`'s tree in a temporary folder, running on this checkout's node_modules. */
interface Side {
  name: 'A' | 'B';
  url: string;
  agent: Agent;
  samples: Record<string, number[]>;
}

async function once(side: Side, body: string): Promise<void> {
  const t = process.hrtime.bigint();
  const headers = await postScore(side.url, body, side.agent);
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  const stages = parseServerTiming(String(headers['server-timing'] ?? ''));
  for (const [k, v] of Object.entries({ ...stages, client: ms })) (side.samples[k] ??= []).push(v);
}

async function gc(url: string) {
  const kinds = gcTotals(await (await fetch(`${url}/metrics`)).text());
  return Object.values(kinds).reduce(
    (s, k) => ({ pauses: s.pauses + k.pauses, total_ms: s.total_ms + k.total_ms }),
    { pauses: 0, total_ms: 0 },
  );
}

async function main(): Promise<void> {
  const dir = resolveModel(MODEL);
  const aRoot = A_REF ? exportTree(A_REF) : REPO;
  const aCommit = execFileSync('git', ['rev-parse', '--short', A_REF || 'HEAD'], {
    cwd: REPO,
    encoding: 'utf8',
  }).trim();
  const bCommit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: REPO,
    encoding: 'utf8',
  }).trim();
  const dirty =
    execFileSync('git', ['status', '--porcelain', '--', 'apps', 'libs'], {
      cwd: REPO,
      encoding: 'utf8',
    }).trim() !== '';
  const env = { A: envArg('a-env'), B: envArg('b-env') };
  const nodeArgs = { A: arg('a-node-args', ''), B: arg('b-node-args', '') };
  const label = {
    A: `${A_REF ? `${A_REF} (${aCommit})` : `this tree`}${Object.keys(env.A).length ? ` ${JSON.stringify(env.A)}` : ''}${nodeArgs.A ? ` node ${nodeArgs.A}` : ''}`,
    B: `this tree (${bCommit}${dirty ? ' + uncommitted' : ''})${Object.keys(env.B).length ? ` ${JSON.stringify(env.B)}` : ''}${nodeArgs.B ? ` node ${nodeArgs.B}` : ''}`,
  };
  console.log(`# A/B ${MODEL}, ${B} candidates: A = ${label.A}; B = ${label.B}; load ${load1()}`);
  const topic = await ensureBenchTopic();
  const { body, prefix } = await seed('ab');
  const timing = { SCORER_SERVER_TIMING: 'true' };
  const a = await startScorer(dir, prefix, topic, { ...timing, ...env.A }, aRoot, argsOf('a-node-args'));
  const b = await startScorer(dir, prefix, topic, { ...timing, ...env.B }, REPO, argsOf('b-node-args'));
  const sides: Side[] = [
    { name: 'A', url: a.url, agent: new Agent({ keepAlive: true, maxSockets: 1 }), samples: {} },
    { name: 'B', url: b.url, agent: new Agent({ keepAlive: true, maxSockets: 1 }), samples: {} },
  ];
  const loads: number[] = [load1()];
  try {
    for (const s of sides) {
      await warm(s.url, body);
      for (let i = 0; i < 50; i++) await postScore(s.url, body, s.agent);
    }
    const gcBefore = await Promise.all(sides.map((s) => gc(s.url)));
    for (let i = 0; i < REQUESTS; i++) {
      const order = i % 2 === 0 ? sides : [sides[1]!, sides[0]!];
      for (const s of order) await once(s, body);
    }
    const gcAfter = await Promise.all(sides.map((s) => gc(s.url)));
    loads.push(load1());
    const profile = sides.map((s, k) => ({
      stages: Object.fromEntries(Object.entries(s.samples).map(([n, v]) => [n, stats(v)])),
      gc: {
        pauses: gcAfter[k]!.pauses - gcBefore[k]!.pauses,
        total_ms: gcAfter[k]!.total_ms - gcBefore[k]!.total_ms,
      },
    }));
    const f = (x: number) => x.toFixed(2).padStart(7);
    console.log(
      `\nsequential, ${REQUESTS} per side, alternating (ms): stage A p50 / p99 / max | B p50 / p99 / max | B/A p50, p99`,
    );
    for (const stage of Object.keys(profile[1]!.stages)) {
      const pa = profile[0]!.stages[stage];
      const pb = profile[1]!.stages[stage]!;
      const ra = pa ? `${(pb.p50 / pa.p50).toFixed(2)}, ${(pb.p99 / pa.p99).toFixed(2)}` : 'n/a';
      const sa = pa
        ? `${f(pa.p50)} ${f(pa.p99)} ${f(pa.max)}`
        : `${'-'.padStart(7)} ${'-'.padStart(7)} ${'-'.padStart(7)}`;
      console.log(`  ${stage.padEnd(12)} ${sa} | ${f(pb.p50)} ${f(pb.p99)} ${f(pb.max)} | ${ra}`);
    }
    for (const [k, p] of profile.entries())
      console.log(
        `  GC ${sides[k]!.name}: ${p.gc.pauses} pauses, ${p.gc.total_ms.toFixed(1)} ms (${(p.gc.total_ms / REQUESTS).toFixed(3)} ms per request)`,
      );

    const sat: Record<'A' | 'B', { p99: number; cand_per_s: number; non2xx: number; load1: number }[]> = {
      A: [],
      B: [],
    };
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? sides : [sides[1]!, sides[0]!];
      for (const s of order) {
        const res = await http(s.url, body, CONNECTIONS);
        sat[s.name].push({
          p99: res.p99,
          cand_per_s: Math.round(res.candidatesPerS),
          non2xx: res.non2xx,
          load1: load1(),
        });
      }
    }
    loads.push(load1());
    const med = (xs: number[]) =>
      percentile(
        [...xs].sort((x, y) => x - y),
        50,
      );
    const satA = { p99: med(sat.A.map((x) => x.p99)), cand: med(sat.A.map((x) => x.cand_per_s)) };
    const satB = { p99: med(sat.B.map((x) => x.p99)), cand: med(sat.B.map((x) => x.cand_per_s)) };
    console.log(
      `\nautocannon c=${CONNECTIONS}, ${ROUNDS} rounds alternating (medians): A p99 ${satA.p99} ms, ${satA.cand} cand/s | B p99 ${satB.p99} ms, ${satB.cand} cand/s | B/A p99 ${(satB.p99 / satA.p99).toFixed(2)}, cand/s ${(satB.cand / satA.cand).toFixed(2)}`,
    );
    for (const r of [...sat.A.map((x) => ({ s: 'A', ...x })), ...sat.B.map((x) => ({ s: 'B', ...x }))])
      console.log(`  ${r.s}: p99 ${r.p99} ms, ${r.cand_per_s} cand/s, non-2xx ${r.non2xx}, load ${r.load1}`);
    console.log(`load average (1 min) during the run: ${loads.join(' -> ')}`);
    mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
    const file = join(REPO, 'bench', 'results', `score-ab-${Date.now()}.json`);
    writeFileSync(
      file,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          model: MODEL,
          candidates: B,
          a: label.A,
          b: label.B,
          loads,
          profile,
          saturation: sat,
        },
        null,
        2,
      ),
    );
    console.log(`results: ${file.slice(REPO.length + 1)}`);
  } finally {
    for (const s of sides) s.agent.destroy();
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    if (A_REF) rmSync(aRoot, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(err.stack);
  process.exit(1);
});
