// The client-side cost of counting aggregates, without Kafka or ClickHouse: `AggregateCounters.record`
// on the events bench/ingest/aggregates.ts produces (20k items in 50 categories stored as item hashes,
// 50k users, the last hour), in batches as ingest flushes them, against a redis-server of its own (so
// that no other client's work is counted). Reports the CPU seconds per 1M events of this process (the
// planning, the arguments, ioredis) and of that Redis.
//   node -r ./scripts/register.js bench/ingest/counters.ts [--events 200000] [--batch 20000] [--rounds 3]
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import * as current from '@mmctr/aggregates';
import type { CountedEvent } from '@mmctr/aggregates';
import { rng } from '../../test/support/ingest/events';
import { demoWithAggregations } from '../../test/integration/aggregates/demo-aggregations';
import { freePort } from '../../test/support/free-port';
import { cpuSeconds } from '../support/cpu';
import { runMainThenExit } from '../support/run-main';
import { log } from '../support/log';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    // Another build of @mmctr/aggregates (its index.ts) to compare, alternated with this one.
    baseline: { type: 'string' },
  },
});
const N = Number(args.events);
const BATCH = Number(args.batch);
const ROUNDS = Number(args.rounds);
const ITEMS = 20_000;
const TYPES = ['impression', 'impression', 'click', 'click', 'conversion'];
const PREFIX = 'mmctr-bench:counters:';

/** The events as ingest hands them to the counters (context flattened), ids unique per round. */
function events(round: string): CountedEvent[] {
  const rand = rng(42);
  const base = Date.now() - 3_600_000;
  return Array.from({ length: N }, (_, k) => ({
    event_id: `a${round}-${k}`,
    type: TYPES[Math.floor(rand() * TYPES.length)]!,
    ts_ms: base + Math.floor(rand() * 3_000_000),
    user_id: `u${Math.floor(rand() * 50_000)}`,
    item_id: `i${Math.floor(rand() * ITEMS)}`,
    request_id: `r${Math.floor(k / 10)}`,
    position: k % 10,
    value: Math.floor(rand() * 100) / 10,
    device: rand() < 0.5 ? 'mobile' : 'desktop',
    placement: 'feed',
    country: 'DE',
  }));
}

async function main(): Promise<void> {
  const port = await freePort();
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const redis = new Redis(port, '127.0.0.1');
  await redis.ping();
  const itemKey = (id: string) => `${PREFIX}item:${id}`;
  try {
    for (let i = 0; i < ITEMS; i += 1_000) {
      const p = redis.pipeline();
      for (let k = i; k < i + 1_000; k++) p.hset(itemKey(`i${k}`), 'category', `c${k % 50}`);
      await p.exec();
    }
    const impls: [string, typeof current][] = [['current', current]];
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a build chosen at run time
    if (args.baseline) impls.push(['baseline', require(resolve(args.baseline)) as typeof current]);
    const repo = demoWithAggregations();
    const perM = (x: number) => Number(((x * 1_000_000) / N).toFixed(2));
    const rows = [];
    const connections: Record<string, Redis> = {};
    // Alternated, so that drift in the shared machine's load falls on every build.
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, lib] of impls) {
        // A connection per build: each defines its own scripts under the same command names.
        const conn = (connections[name] ??= new Redis(port, '127.0.0.1'));
        const counters = new lib.AggregateCounters(conn, repo, {
          keyPrefix: `${PREFIX}${name}:`,
          entityHash: { key: (_entity, id) => itemKey(id), decode: (_entity, raw) => raw },
        });
        const all = events(`${name}${round}`);
        const load = loadavg()[0]!.toFixed(2);
        const redis0 = cpuSeconds(server.pid);
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        let applied = 0;
        for (let i = 0; i < N; i += BATCH) applied += await counters.record(all.slice(i, i + BATCH));
        const cpu = process.cpuUsage(cpu0);
        const wall = (performance.now() - t0) / 1000;
        const redisS = cpuSeconds(server.pid) - redis0;
        const row = {
          build: name,
          round,
          load,
          applied,
          wall_s: Number(wall.toFixed(2)),
          client_cpu_s_per_1m: perM((cpu.user + cpu.system) / 1e6),
          redis_cpu_s_per_1m: perM(redisS),
        };
        rows.push(row);
        log(JSON.stringify(row));
      }
    }
    for (const c of Object.values(connections)) c.disconnect();
    // Where the server's time went (every build's commands together, scripts including their calls).
    const stats = (await redis.info('commandstats'))
      .split('\n')
      .filter((l) => l.startsWith('cmdstat_'))
      .map((l) => l.replace(/,rejected_calls.*$/, '').trim());
    log(stats.join(' | '));
    console.log(JSON.stringify({ events: N, batch: BATCH, rounds: rows }, null, 2));
  } finally {
    redis.disconnect();
    server.kill();
  }
}

runMainThenExit(main);
