// Where the CPU of a saturated scorer goes: CPU milliseconds per request, split by process (the server,
// this load generator, Kafka, Redis, ClickHouse) and the scorer's request loop vs its other threads
// (onnxruntime's intra-op threads, the score log thread, GC and libuv helpers), from /proc, while
// autocannon holds --connections requests in flight; per scorer setting (--variants), so a part's
// cost shows as a difference (no-score-log: the score log's, on every process). The baseline, measured in the same run with the
// scorer idle: CPU milliseconds of one raw session.run of the same model with the same threads.
// A saturated throughput of at least 0.7 x raw needs the whole box's CPU per request to be at most
// raw ÷ 0.7; the split shows which part is over.
//
// Usage: node -r ./scripts/register.js bench/score/cpu-split.ts [--model qin-demo] [--duration 10]
//        [--connections 8] [--threads 2] [--variants default,no-score-log,pool-1,http-floor] [--rounds 3]
import { cpus, loadavg } from 'node:os';
import { arg, numberArg } from '../support/cli-args';
import { servicesCpu, servicesSince, threadCpu } from '../support/cpu';
import { resolveModel } from './lib/models';
import { stats } from './lib/profile';
import { rawFixture } from './lib/raw-session';
import {
  ensureBenchTopic,
  http,
  seed,
  sequential,
  startHttpFloor,
  startScorer,
  warm,
} from './lib/scorer-process';
import { B, FILE } from './lib/settings';

const MODEL = arg('model', 'qin-demo');
const CONNECTIONS = numberArg('connections', 8);
const ROUNDS = numberArg('rounds', 3);

/**
 * Scorer settings compared, each in its own scorer process; `http-floor` is no scorer but the bench's
 * framework floor (Nest + Fastify, the same JSON in and out, no work): the CPU no scoring code removes.
 */
const VARIANTS: Record<string, Record<string, string> | 'http-floor'> = {
  default: {},
  'no-score-log': { SCORER_SCORE_LOG_ENABLED: 'false' },
  'pool-1': { SCORER_INFERENCE_WORKERS: '1' },
  'http-floor': 'http-floor',
};

/** CPU ms of one raw session.run (process CPU over 300 runs, no scorer running). */
async function rawCpuMs(dir: string): Promise<{ cpuMs: number; wallMs: number }> {
  const { session, feeds } = await rawFixture(dir, FILE);
  for (let i = 0; i < 20; i++) await session.run(feeds);
  const n = 300;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await session.run(feeds);
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6 / n;
  const used = process.cpuUsage(cpu0);
  await session.release();
  return { cpuMs: (used.user + used.system) / 1e3 / n, wallMs };
}

/** One variant at saturation: CPU ms per request by part, and requests/s. */
interface Measured {
  parts: Record<string, number>;
  rps: number;
  load: [number, number];
}

async function measure(
  dir: string,
  prefix: string,
  topic: string,
  body: string,
  variant: Record<string, string> | 'http-floor',
): Promise<Measured> {
  const { url, child } =
    variant === 'http-floor' ? await startHttpFloor() : await startScorer(dir, prefix, topic, variant);
  try {
    if (variant === 'http-floor') await sequential(url, body, 200);
    else await warm(url, body);
    const pid = child.pid!;
    const threads0 = threadCpu(pid);
    const services0 = servicesCpu();
    const self0 = process.cpuUsage();
    const load0 = loadavg()[0]!;
    const sat = await http(url, body, CONNECTIONS);
    const self = process.cpuUsage(self0);
    const services = servicesSince(services0);
    const threads = threadCpu(pid);
    const ms = (s: number) => (s * 1e3) / sat.requests;
    return {
      parts: {
        'server: request loop': ms(threads.loop - threads0.loop),
        'server: other threads': ms(threads.others - threads0.others),
        'load generator': ms((self.user + self.system) / 1e6),
        kafka: ms(services.kafka),
        redis: ms(services.redis),
        clickhouse: ms(services.clickhouse),
      },
      rps: sat.requests / sat.durationS,
      load: [load0, loadavg()[0]!],
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

/** Each part's median over rounds (nearest rank, as the other benches), requests/s too; load: the first round's start, the last's end. */
function medianOf(rounds: Measured[]): Measured {
  const med = (xs: number[]) => stats(xs).p50;
  const parts = Object.keys(rounds[0]!.parts);
  return {
    parts: Object.fromEntries(parts.map((p) => [p, med(rounds.map((r) => r.parts[p]!))])),
    rps: med(rounds.map((r) => r.rps)),
    load: [rounds[0]!.load[0], rounds.at(-1)!.load[1]],
  };
}

async function main(): Promise<void> {
  const dir = resolveModel(MODEL);
  const { body, prefix } = await seed('cpu');
  const topic = await ensureBenchTopic();
  const raw = await rawCpuMs(dir);
  const names = arg('variants', Object.keys(VARIANTS).join(',')).split(',');
  for (const name of names)
    if (!VARIANTS[name])
      throw new Error(`--variants: unknown '${name}' (known: ${Object.keys(VARIANTS).join(', ')})`);
  // Rounds alternate the variants, so a change in the shared machine's load weighs on each alike.
  const rounds = new Map<string, Measured[]>(names.map((n) => [n, []]));
  for (let round = 0; round < ROUNDS; round++)
    for (const name of names)
      rounds.get(name)!.push(await measure(dir, prefix, topic, body, VARIANTS[name]!));
  const results = names.map((name) => ({ name, ...medianOf(rounds.get(name)!) }));
  console.log(
    `# CPU ms per request at saturation (median of ${ROUNDS} rounds): ${MODEL}, ${B} candidates, autocannon c=${CONNECTIONS}, ${cpus().length} cores`,
  );
  console.log(`${'part'.padEnd(24)}${results.map((r) => r.name.padStart(14)).join('')}`);
  const parts = Object.keys(results[0]!.parts);
  const total = (r: Measured) => Object.values(r.parts).reduce((a, b) => a + b, 0);
  for (const p of parts)
    console.log(`${p.padEnd(24)}${results.map((r) => r.parts[p]!.toFixed(3).padStart(14)).join('')}`);
  const row = (label: string, f: (r: Measured) => string) =>
    console.log(`${label.padEnd(24)}${results.map((r) => f(r).padStart(14)).join('')}`);
  row('box total', (r) => total(r).toFixed(3));
  row('box total ÷ raw CPU', (r) => (total(r) / raw.cpuMs).toFixed(2));
  row('requests/s', (r) => r.rps.toFixed(1));
  row('load average', (r) => `${r.load[0].toFixed(1)}->${r.load[1].toFixed(1)}`);
  console.log(
    `baseline (same run, no scorer running): raw session.run ${raw.cpuMs.toFixed(3)} ms CPU, ${raw.wallMs.toFixed(3)} ms wall per run; saturated ≥ 0.7 × raw needs box total ÷ raw CPU ≤ ${(1 / 0.7).toFixed(2)}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
