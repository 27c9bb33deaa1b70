import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { loadConfig } from '@mmctr/config';
import { AnalyticsRepository } from '../analytics.repository';
import { finalize } from './analytics-finalizer';

interface FinalizeFlags {
  from?: string;
  to?: string;
  force?: boolean;
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
    .action(async (flags: FinalizeFlags) => {
      const config = loadConfig();
      const repo = AnalyticsRepository.fromConfig(config);
      const bar = new SingleBar(
        { format: 'finalize {bar} {percentage}% | {value}/{total} hours' },
        Presets.shades_classic,
      );
      let started = false;
      try {
        const result = await finalize(repo, {
          fromS: flags.from === undefined ? undefined : parseTime('from', flags.from),
          toS: flags.to === undefined ? Math.floor(Date.now() / 1000) : parseTime('to', flags.to),
          force: flags.force,
          progress: (done, total) => {
            if (!started) bar.start(total, done);
            started = true;
            bar.update(done);
          },
        });
        bar.stop();
        console.log(
          JSON.stringify({
            ...result,
            watermark: result.watermark ? new Date(result.watermark * 1000).toISOString() : null,
          }),
        );
      } finally {
        bar.stop();
        await repo.close();
      }
    });
}
