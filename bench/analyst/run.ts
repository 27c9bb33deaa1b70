// Analyst-views benchmark: each analyst query on the rollup-backed view and on its query-time `*_exact`
// twin, over N generated events, with the finalize cost that buys it. See docs/benchmarks.md.
//   node -r ./scripts/register.js bench/analyst/run.ts [--events 10000000] [--days 30] [--items 5000] [--reps 5] [--keep]
// Talks to the local ClickHouse (deploy/local/stack.env) unless the environment points elsewhere.
import '../../test/setup/load-stack-env.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '@mmctr/config';
import {
  bindQuery,
  clickHouseClient,
  MigrationRunner,
  loadMigrations,
  MIGRATIONS_DIR,
} from '@mmctr/clickhouse';
import { AnalyticsRepository, ITEM_HOURLY_SQL } from '../../tools/cli/src/analytics.repository';
import { finalize } from '../../tools/cli/src/commands/analytics-finalizer';
import { log } from '../support/log';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '10000000' },
    days: { type: 'string', default: '30' },
    items: { type: 'string', default: '5000' },
    reps: { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
  },
});
const N = Number(args.events);
const DAYS = Number(args.days);
const ITEMS = Number(args.items);
const REPS = Number(args.reps);
const SLATE = 5;
// Of the impressions: 8 % clicked (a second click on 1 %), 1 % converted, 3 % redelivered; 0.5 % arrive late.
const IMPRESSIONS = Math.floor(N / 1.13 / SLATE) * SLATE;
const REQUESTS = IMPRESSIONS / SLATE;
const START_S = 1_767_225_600; // 2026-01-01 00:00:00 UTC
const SPAN_MS = DAYS * 86_400_000;

const config = loadConfig();
const DB = `mmctr_bench_analyst_${Date.now()}`;
const admin = clickHouseClient(config, { requestTimeoutMs: 3_600_000 });
const ch = clickHouseClient(config, { database: DB, requestTimeoutMs: 3_600_000 });

/** Impression n: its request, slot, item and time (ms); `salt` picks an independent hash per use. */
const imp = {
  request: 'intDiv(n, 5)',
  ts: `toUInt64(${START_S * 1000} + intDiv(intDiv(n, 5) * ${SPAN_MS}, ${REQUESTS}))`,
  item: `concat('i', toString(cityHash64(n, 7) % ${ITEMS}))`,
  hash: (salt: number) => `(cityHash64(n, ${salt}) % 1000)`,
};

/** INSERT ... SELECT of events for impression numbers in [lo, hi): `kind` picks which rows. */
function eventsSql(
  lo: number,
  hi: number,
  kind: 'impression' | 'click' | 'click2' | 'conversion' | 'dup' | 'late',
): string {
  const type =
    kind === 'click' || kind === 'click2' ? 'click' : kind === 'conversion' ? 'conversion' : 'impression';
  const delayMs = {
    impression: '0',
    dup: '0',
    late: '0',
    click: `(cityHash64(n, 3) % 600000)`,
    click2: `(600000 + cityHash64(n, 4) % 3600000)`,
    conversion: `(3600000 + cityHash64(n, 5) % 7200000)`,
  }[kind];
  const where = {
    impression: `${imp.hash(1)} >= 5`,
    late: `${imp.hash(1)} < 5`,
    dup: `${imp.hash(2)} < 30 AND ${imp.hash(1)} >= 5`,
    click: `${imp.hash(9)} < 80`,
    click2: `${imp.hash(9)} < 10`,
    conversion: `${imp.hash(9)} < 10`,
  }[kind];
  return `INSERT INTO events (event_id, type, ts_ms, event_time, user_id, item_id, request_id, position, device, placement,
                               country, value, schema_version, ingested_at)
    SELECT concat('${kind === 'dup' || kind === 'late' ? 'impression' : kind}-', toString(n)) AS event_id, '${type}', ts, toDateTime(intDiv(ts, 1000)),
           concat('u', toString(cityHash64(${imp.request}) % 200000)), ${imp.item}, concat('r', toString(${imp.request})),
           toUInt16(n % 5), 'web', 'feed', 'DE', ${kind === 'conversion' ? '10.0' : '0.0'}, 1, now()
    FROM (SELECT n, ${imp.ts} + ${delayMs} AS ts FROM (SELECT number + ${lo} AS n FROM numbers(${hi - lo})))
    WHERE ${where}`;
}

function scoresSql(lo: number, hi: number): string {
  // One scored slate per request, shortly before its impressions; three model versions.
  return `INSERT INTO score_log (request_id, ts_ms, event_time, user_id, model_version, feature_spec_version,
                                  shadow_model_version, device, placement, country, history_item_ids, history_ts_ms,
                                  item_ids, positions, ctrs, shadow_ctrs, degraded, ingested_at)
    SELECT concat('r', toString(r)), ts, toDateTime(intDiv(ts, 1000)), concat('u', toString(cityHash64(r) % 200000)),
           concat('m', toString(r % 3)), 'fs-2', '', 'web', 'feed', 'DE', [], [],
           arrayMap(p -> concat('i', toString(cityHash64(r * 5 + p, 7) % ${ITEMS})), range(5)),
           [0, 1, 2, 3, 4], arrayMap(p -> (cityHash64(r * 5 + p, 9) % 1000) / 1000, range(5)), [], toUInt8(r % 50 = 0), now()
    FROM (SELECT r, toUInt64(${START_S * 1000} + intDiv(r * ${SPAN_MS}, ${REQUESTS})) - 1000 AS ts
          FROM (SELECT number + ${lo} AS r FROM numbers(${hi - lo})))`;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = process.hrtime.bigint();
  const out = await fn();
  return [out, Number(process.hrtime.bigint() - t) / 1e9];
}

/** Median of `reps` runs after a first, uncounted one that warms caches (`reps` 0: that one run). */
async function timeQuery(
  sql: string,
  reps: number,
): Promise<{ seconds: number; rows: Record<string, unknown>[] }> {
  const [rows, once] = await timed(() => ch.query<Record<string, unknown>>(sql));
  if (reps === 0) return { seconds: once, rows }; // the query-time baseline is slow enough to time cold
  const times: number[] = [];
  for (let i = 0; i < reps; i++) times.push((await timed(() => ch.query(sql)))[1]);
  times.sort((a, b) => a - b);
  return { seconds: times[Math.floor(times.length / 2)]!, rows };
}

/**
 * Analyst queries (docs/schema.md): `{v}` is the view's name, `_exact` appended for the baseline unless a
 * third entry gives the baseline query.
 */
const QUERIES: [string, string, string?][] = [
  [
    'ctr by day',
    'SELECT day, sum(impressions) AS imps, sum(clicks) AS clk FROM {daily_ctr_by_item} GROUP BY day ORDER BY day',
  ],
  // The same answer from the per-model rollup (days x models rows), against the original query-time read.
  [
    'ctr by day (rewritten)',
    'SELECT day, sum(impressions) AS imps, sum(clicks) AS clk FROM daily_ctr_by_model GROUP BY day ORDER BY day',
    'SELECT day, sum(impressions) AS imps, sum(clicks) AS clk FROM daily_ctr_by_item_exact GROUP BY day ORDER BY day',
  ],
  [
    'top 100 items by ctr',
    'SELECT item_id, impressions, clicks, ctr FROM {ctr_by_item} WHERE impressions >= 200 ORDER BY ctr DESC, item_id LIMIT 100',
  ],
  [
    'daily_ctr_by_item (full)',
    'SELECT count() AS n, sum(impressions) AS i, sum(clicks) AS c FROM {daily_ctr_by_item}',
  ],
  [
    'score_calibration',
    'SELECT model_version, bucket, impressions, clicks, round(predicted_ctr, 9) AS p, round(observed_ctr, 9) AS o FROM {score_calibration} ORDER BY model_version, bucket',
  ],
  [
    'ctr by day and model',
    'SELECT day, model_version, impressions, clicks, conversions FROM {daily_ctr_by_model} ORDER BY day, model_version',
  ],
  [
    'ctr by day and category',
    'SELECT day, category, impressions, clicks FROM {daily_ctr_by_category} ORDER BY day, category',
  ],
  [
    'ctr by hour',
    'SELECT hour, sum(impressions) AS imps, sum(clicks) AS clk FROM {hourly_ctr} GROUP BY hour ORDER BY hour',
  ],
  // One item by hour: the rollup read by its sorting key (a view would group every item first).
  [
    'ctr by hour for one item',
    bindQuery(ITEM_HOURLY_SQL, { item: 'i42' }),
    "SELECT hour, impressions, clicks, ctr FROM hourly_ctr_by_item_exact WHERE item_id = 'i42' ORDER BY hour",
  ],
];

async function main(): Promise<void> {
  log(`database ${DB}: ${N} events (${IMPRESSIONS} impressions over ${DAYS} days, ${ITEMS} items)`);
  await admin.command(`CREATE DATABASE IF NOT EXISTS ${DB}`);
  await new MigrationRunner(admin, DB, loadMigrations(MIGRATIONS_DIR)).migrate();
  await ch.insert(
    'items',
    Array.from({ length: ITEMS }, (_, i) => ({
      item_id: `i${i}`,
      ts_ms: 1,
      updated_at: 1,
      title: '',
      description: '',
      category: `c${i % 40}`,
      tags: [],
      image: '',
      content_hash: '',
      schema_version: 1,
      ingested_at: 1,
    })),
  );
  // Arrival order: the first chunk's clicks before their impressions; every other chunk's clicks a chunk
  // later; redelivered impressions after all of that; late impressions last.
  const CHUNK = 1_000_000;
  const chunks: [number, number][] = [];
  for (let lo = 0; lo < IMPRESSIONS; lo += CHUNK) chunks.push([lo, Math.min(lo + CHUNK, IMPRESSIONS)]);
  const [, loadS] = await timed(async () => {
    for (const [i, [lo, hi]] of chunks.entries()) {
      if (i === 0)
        for (const k of ['click', 'click2', 'conversion'] as const) await ch.command(eventsSql(lo, hi, k));
      await ch.command(eventsSql(lo, hi, 'impression'));
      await ch.command(scoresSql(lo / SLATE, hi / SLATE));
      if (i > 0) {
        const [plo, phi] = chunks[i - 1]!;
        if (i > 1 || plo > 0)
          for (const k of ['click', 'click2', 'conversion'] as const)
            await ch.command(eventsSql(plo, phi, k));
      }
      log(`loaded impressions ${hi}/${IMPRESSIONS}`);
    }
    const [plo, phi] = chunks[chunks.length - 1]!;
    if (chunks.length > 1)
      for (const k of ['click', 'click2', 'conversion'] as const) await ch.command(eventsSql(plo, phi, k));
    for (const [lo, hi] of chunks) await ch.command(eventsSql(lo, hi, 'dup'));
    for (const [lo, hi] of chunks) await ch.command(eventsSql(lo, hi, 'late'));
  });
  const [[counts]] = await Promise.all([
    ch.query<{ rows: string; unique: string; hours: string }>(
      'SELECT count() AS rows, uniqExact(event_id) AS unique, uniqExact(toStartOfHour(event_time)) AS hours FROM events',
    ),
  ]);
  const rows = Number(counts!.rows);
  const hours = Number(counts!.hours);
  log(
    `stored ${rows} event rows (${counts!.unique} distinct) in ${loadS.toFixed(1)} s: ${Math.round(rows / loadS)} rows/s`,
  );

  const repo = new AnalyticsRepository(ch);
  const [first, finalizeS] = await timed(() => finalize(repo, { toS: START_S + DAYS * 86_400 + 7200 }));
  log(`finalize: ${first.hours} hours in ${finalizeS.toFixed(1)} s`);
  const [second, secondS] = await timed(() => finalize(repo, { toS: START_S + DAYS * 86_400 + 7200 }));
  log(`second finalize: ${second.hours} hours in ${secondS.toFixed(1)} s`);
  // One late hour: a click for an impression of day 2 stored now; finalize recomputes its day's hours.
  await ch.command(
    `INSERT INTO events SELECT concat('late-click-', event_id), 'click', ts_ms + 1000, event_time, user_id, item_id, request_id,
            position, device, placement, country, 0, schema_version, now()
     FROM events WHERE type = 'impression' AND event_time >= toDateTime(${START_S + 86_400}) LIMIT 1`,
  );
  const [late, lateS] = await timed(() => finalize(repo, { toS: START_S + DAYS * 86_400 + 7200 }));
  log(`incremental finalize after a late click: ${late.hours} hours in ${lateS.toFixed(1)} s`);

  const results = [];
  for (const [name, template, baseline] of QUERIES) {
    const rollup = await timeQuery(template.replace(/\{(\w+)\}/g, '$1'), REPS);
    const exact = await timeQuery(baseline ?? template.replace(/\{(\w+)\}/g, '$1_exact'), 0);
    const equal = JSON.stringify(rollup.rows) === JSON.stringify(exact.rows);
    results.push({
      query: name,
      rollup_ms: rollup.seconds * 1000,
      exact_ms: exact.seconds * 1000,
      speedup: exact.seconds / rollup.seconds,
      equal,
    });
    log(
      `${name}: rollup ${(rollup.seconds * 1000).toFixed(1)} ms, exact ${(exact.seconds * 1000).toFixed(0)} ms, x${(exact.seconds / rollup.seconds).toFixed(0)}, equal=${equal}`,
    );
  }
  const summary = {
    bench: 'analyst',
    events: rows,
    hours,
    load: { seconds: loadS, rows_per_s: rows / loadS },
    finalize: {
      full: {
        hours: first.hours,
        seconds: finalizeS,
        seconds_per_hour: finalizeS / Math.max(first.hours, 1),
        events_per_s: rows / finalizeS,
      },
      second: { hours: second.hours, seconds: secondS },
      incremental_late_click: { hours: late.hours, seconds: lateS },
      load_plus_finalize_rows_per_s: rows / (loadS + finalizeS),
    },
    queries: results,
  };
  console.table(
    results.map((r) => ({
      ...r,
      rollup_ms: r.rollup_ms.toFixed(1),
      exact_ms: r.exact_ms.toFixed(0),
      speedup: `x${r.speedup.toFixed(0)}`,
    })),
  );
  console.log(JSON.stringify(summary, null, 2));
  const dir = join(__dirname, '..', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `analyst-${Date.now()}.json`), JSON.stringify(summary, null, 2));
  if (!args.keep) await admin.command(`DROP DATABASE IF EXISTS ${DB}`);
  await Promise.all([ch.close(), admin.close()]);
}

main().catch(async (err: Error) => {
  log(`failed: ${err.message}`);
  if (!args.keep) await admin.command(`DROP DATABASE IF EXISTS ${DB}`).catch(() => undefined);
  process.exit(1);
});
