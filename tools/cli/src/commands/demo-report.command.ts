import { createReadStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { auc } from '@mmctr/synth';

interface ModelEval {
  version: string;
  model_type: string;
  val_auc?: number | null;
  test: { auc: number | null; logloss: number | null; cold_auc?: number | null; rows: number };
  train_seconds?: number | null;
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;
const f4 = (v: number | null | undefined) =>
  typeof v === 'number' && Number.isFinite(v) ? v.toFixed(4) : '—';
const f1 = (v: number | null | undefined) =>
  typeof v === 'number' && Number.isFinite(v) ? v.toFixed(1) : '—';

async function* lines(file: string): AsyncGenerator<string> {
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity }))
    if (line) yield line;
}

/**
 * Oracle AUCs over exactly the impressions the scorer answered: p_true, and p_expected (p_true
 * averaged over the per-impression noise, the best prediction possible; absent in older synth folders).
 */
async function oracleOnServed(synthDir: string, servedFile: string) {
  const served = new Map<string, { label: number; cold: boolean }>();
  for await (const line of lines(servedFile)) {
    const r = JSON.parse(line) as { request_id: string; item_id: string; label: number; cold: boolean };
    served.set(`${r.request_id}\u0000${r.item_id}`, r);
  }
  const p: number[] = [];
  const expected: number[] = [];
  const y: number[] = [];
  const cold: boolean[] = [];
  for await (const line of lines(join(synthDir, 'p_true.jsonl'))) {
    const r = JSON.parse(line) as {
      request_id: string;
      item_id: string;
      p_true: number;
      p_expected?: number;
    };
    const hit = served.get(`${r.request_id}\u0000${r.item_id}`);
    if (!hit) continue;
    p.push(r.p_true);
    expected.push(r.p_expected ?? Number.NaN);
    y.push(hit.label);
    cold.push(hit.cold);
  }
  const isCold = (i: number) => cold[i] === true;
  const hasExpected = expected.every((v) => !Number.isNaN(v));
  return {
    impressions: p.length,
    auc: auc(p, y),
    cold_auc: auc(p, y, isCold),
    expected_auc: hasExpected ? auc(expected, y) : null,
    expected_cold_auc: hasExpected ? auc(expected, y, isCold) : null,
  };
}

export function register(program: Command): void {
  program
    .command('demo-report')
    .description("print the demo's summary table from the files a demo run wrote")
    .requiredOption('--dir <dir>', 'demo folder')
    .requiredOption('--synth <dir>', 'synthetic data folder')
    .option('--production <version>', 'the promoted model version')
    .option('--seconds <n>', 'wall time of the whole run')
    .action(async (opts: { dir: string; synth: string; production?: string; seconds?: string }) => {
      const ingest = readJson<{ events: number; events_per_s: number }>(join(opts.dir, 'ingest.json'));
      const embed = readJson<{ items: number; items_per_s: number }>(join(opts.dir, 'embed.json'));
      const replay = readJson<{
        requests: number;
        impressions: number;
        served_auc: number;
        served_cold_start_auc: number;
        latency_ms: { p50: number; p99: number };
        model_versions: string[];
        degraded_requests: number;
        degraded_reasons?: Record<string, number>;
      }>(join(opts.dir, 'replay.json'));
      const evals = existsSync(join(opts.dir, 'evaluate.json'))
        ? readJson<{ models: ModelEval[] }>(join(opts.dir, 'evaluate.json')).models
        : [];
      const oracle = await oracleOnServed(opts.synth, join(opts.dir, 'served-scores.jsonl'));
      const production = evals.find((m) => m.version === opts.production);
      const gap = production?.test.auc != null ? Math.abs(replay.served_auc - production.test.auc) : null;

      const out: string[] = [];
      out.push('', `mmctr demo summary${opts.seconds ? ` (${opts.seconds}s end to end)` : ''}`, '');
      out.push(
        `ingest              ${f1(ingest.events_per_s)} events/s (${ingest.events} events until queryable)`,
      );
      out.push(
        `embeddings          ${f1(embed.items_per_s)} items/s (${embed.items} items, image + text + fused)`,
      );
      out.push(
        `scoring             p50 ${f1(replay.latency_ms.p50)} ms, p99 ${f1(replay.latency_ms.p99)} ms over ${replay.requests} HTTP requests (${replay.impressions} candidates)`,
      );
      out.push('');
      out.push(
        `test period, the ${oracle.impressions} replayed impressions   AUC      cold-start AUC   log-loss  val AUC  train s`,
      );
      out.push(
        `  oracle (p_true)                                 ${f4(oracle.auc)}   ${f4(oracle.cold_auc)}`,
      );
      if (oracle.expected_auc !== null)
        out.push(
          `  oracle without the noise draw (p_expected)      ${f4(oracle.expected_auc)}   ${f4(oracle.expected_cold_auc)}`,
        );
      for (const m of evals) {
        const tag = m.version === opts.production ? ' (production)' : '';
        out.push(
          `  ${`${m.model_type} ${m.version}${tag}`.padEnd(47)} ${f4(m.test.auc)}   ${f4(m.test.cold_auc)}           ${f4(m.test.logloss)}    ${f4(m.val_auc)}   ${f1(m.train_seconds)}`,
        );
      }
      out.push(
        `  served by the API (${replay.model_versions.join(', ')})`.padEnd(50) +
          `${f4(replay.served_auc)}   ${f4(replay.served_cold_start_auc)}`,
      );
      out.push('');
      out.push(
        gap === null
          ? 'served vs offline test AUC: no offline figure for the production model'
          : `served vs offline test AUC of the production model: |Δ| = ${gap.toFixed(4)} (${gap <= 0.005 ? 'within' : 'OUTSIDE'} 0.005)`,
      );
      const parity = existsSync(join(opts.dir, 'parity.json'))
        ? readJson<{
            ok: boolean;
            rows_checked: number;
            candidates_checked: number;
            max_abs_diff: number | null;
            tolerance: number;
            degraded_rows_skipped: number;
            /** Present when the production layout reads aggregate features. */
            aggregates?: { values_compared: number; values_equal: number; max_abs_diff: number };
          }>(join(opts.dir, 'parity.json'))
        : null;
      const agg = parity?.aggregates;
      if (parity)
        out.push(
          `serving/training parity (trainer recomputes score_log): ${parity.candidates_checked} scores of ${parity.rows_checked} requests, ` +
            `max |Δp| = ${parity.max_abs_diff ?? 'n/a'} (${parity.ok ? 'within' : 'OUTSIDE'} ${parity.tolerance}; ${parity.degraded_rows_skipped} degraded requests skipped)` +
            (agg
              ? `; aggregates ${agg.values_equal} of ${agg.values_compared} logged values equal offline (max |Δ| ${agg.max_abs_diff})`
              : ''),
        );
      if (replay.degraded_requests) {
        const reasons = Object.entries(replay.degraded_reasons ?? {}).map(([r, n]) => `${r} ${n}`);
        out.push(
          `degraded answers: ${replay.degraded_requests}` +
            (reasons.length ? ` (by reason: ${reasons.join(', ')})` : ''),
        );
      }
      const text = out.join('\n');
      console.log(text);
      writeFileSync(
        join(opts.dir, 'summary.json'),
        JSON.stringify(
          { ingest, embed, replay, oracle, models: evals, served_vs_offline_gap: gap, parity },
          null,
          2,
        ) + '\n',
      );
    });
}
