import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { loadConfig } from '@mmctr/config';
import { AnalyticsRepository } from '../analytics.repository';
import { finalize, type FinalizeResult } from './analytics-finalizer';
import { parseDuration, runEvery } from './every';

interface FinalizeFlags {
  from?: string;
  to?: string;
  force?: boolean;
  every?: string;
}

/** An ISO date-time or unix seconds/milliseconds, as unix seconds. */
export function parseTime(flag: string, value: string): number {
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    return n > 1e11 ? Math.floor(n / 1000) : n; // milliseconds or seconds
  }
  const ms = Date.parse(value);
  if (!Number.isFinite(ms))
    throw new Error(`--${flag} must be an ISO date-time or a unix timestamp, got '${value}'`);
  return Math.floor(ms / 1000);
}

export function register(program: Command): void {
  const analytics = program.command('analytics').description('analyst rollups (docs/schema.md)');
  analytics
    .command('finalize')
    .description(
      'recompute the hourly/daily rollups of every dirty hour before --to (default: the start of the current hour); ' +
        'idempotent: a second run with no new data writes nothing',
    )
    .option('--from <time>', 'do not recompute hours before this (ISO date-time or unix time)')
    .option('--to <time>', 'finalize hours that end at or before this (ISO date-time or unix time)')
    .option('--force', 'recompute every hour in range, dirty or not')
    .option(
      '--every <duration>',
      'keep running: finalize now and then every <duration> (30s, 5m, 1h) up to the current hour, until SIGINT/SIGTERM',
    )
    .action(async (flags: FinalizeFlags) => {
      const config = loadConfig();
      const every = flags.every === undefined ? undefined : parseDuration('every', flags.every);
      if (every !== undefined && (flags.to !== undefined || flags.force)) {
        throw new Error(
          '--every runs up to the current hour each time: it cannot be combined with --to or --force',
        );
      }
      const fromS = flags.from === undefined ? undefined : parseTime('from', flags.from);
      const repo = AnalyticsRepository.fromConfig(config);
      try {
        if (every === undefined) await finalizeOnce(repo, { ...flags, fromS });
        else await finalizeEvery(repo, every, fromS);
      } finally {
        await repo.close();
      }
    });
}

/** The result as printed: the watermark as an ISO time. */
const summary = (result: FinalizeResult) => ({
  ...result,
  watermark: result.watermark ? new Date(result.watermark * 1000).toISOString() : null,
});

async function finalizeOnce(
  repo: AnalyticsRepository,
  flags: FinalizeFlags & { fromS?: number },
): Promise<void> {
  const bar = new SingleBar(
    { format: 'finalize {bar} {percentage}% | {value}/{total} hours' },
    Presets.shades_classic,
  );
  let started = false;
  try {
    const result = await finalize(repo, {
      fromS: flags.fromS,
      toS: flags.to === undefined ? Math.floor(Date.now() / 1000) : parseTime('to', flags.to),
      force: flags.force,
      progress: (done, total) => {
        if (!started) bar.start(total, done);
        started = true;
        bar.update(done);
      },
    });
    bar.stop();
    console.log(JSON.stringify(summary(result)));
  } finally {
    bar.stop();
  }
}

/** The scheduled mode: one JSON line per run; a failed run is logged and retried on the next tick. */
async function finalizeEvery(repo: AnalyticsRepository, everyMs: number, fromS: number | undefined) {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await runEvery(
      everyMs,
      async () => {
        const result = await finalize(repo, { fromS, toS: Math.floor(Date.now() / 1000) });
        console.log(JSON.stringify({ at: new Date().toISOString(), ...summary(result) }));
      },
      (err) => console.error(JSON.stringify({ at: new Date().toISOString(), error: err.message })),
      stop.signal,
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
