import type { Command } from 'commander';
import { loadConfig, type AppConfig } from '@mmctr/config';
import { DEFAULT_FEATURE_REPO_PATH, loadFeatureRepo } from '@mmctr/feature-repo';
import { AnalyticsRepository } from '../analytics.repository';
import { RetentionRepository, type PartitionInfo } from '../retention.repository';
import { pendingHours } from './analytics-finalizer';
import {
  keepDaysPerTable,
  newestSourceDropS,
  planRetention,
  retentionTables,
  unfinalizedRefusal,
  type RetentionPlan,
  type TablePlan,
} from './retention-plan';

/** Exit status when the plan is refused (1 stays for crashes). */
const REFUSED = 2;

interface RetentionFlags {
  keepDays?: string;
  keep: string[];
  repo?: string;
  allowUnfinalized?: boolean;
  json?: boolean;
}

const collect = (v: string, acc: string[]) => [...acc, v];

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

const sum = (ps: readonly PartitionInfo[], k: 'rows' | 'bytes') => ps.reduce((s, p) => s + p[k], 0);

function tableLine(t: TablePlan): string {
  const head =
    `${t.table}: keep ${t.keepDays} days (events before ${new Date(t.cutoffS * 1000).toISOString()}); ` +
    `drop ${t.drop.length} partition(s), ${sum(t.drop, 'rows')} rows, ${mib(sum(t.drop, 'bytes'))}; ` +
    `keep ${t.keep.length}, ${sum(t.keep, 'rows')} rows`;
  return [head, ...t.drop.map((p) => `  - ${p.partitionId}: ${p.rows} rows, ${mib(p.bytes)}`)].join('\n');
}

async function plan(
  config: AppConfig,
  repository: RetentionRepository,
  flags: RetentionFlags,
): Promise<RetentionPlan> {
  const repo = loadFeatureRepo(flags.repo ?? config.FEATURE_REPO ?? DEFAULT_FEATURE_REPO_PATH);
  const existing = await repository.tables();
  const tables = retentionTables(repo).filter((t) => existing.has(t));
  const keepDays = keepDaysPerTable(tables, flags.keepDays, flags.keep);
  const partitions = new Map<string, PartitionInfo[]>();
  for (const t of keepDays.keys()) partitions.set(t, await repository.partitions(t));
  const p = planRetention({ repo, keepDays, partitions, nowS: await repository.serverNowS() });
  const newest = newestSourceDropS(p);
  if (newest !== undefined && !flags.allowUnfinalized) {
    if (!existing.has('analytics_hours')) {
      p.refusals.push(
        'the analytics rollups were never finalized (no analytics_hours table): run the migrations and ' +
          '`mmctr analytics finalize` first, or pass --allow-unfinalized',
      );
    } else {
      const analytics = AnalyticsRepository.fromConfig(config);
      try {
        const frozenBeforeS = await analytics.frozenBeforeAfterDropS(newest);
        const { dirty } = await pendingHours(analytics, { toS: frozenBeforeS });
        const refusal = unfinalizedRefusal(p, frozenBeforeS, dirty);
        if (refusal) p.refusals.push(refusal);
      } finally {
        await analytics.close();
      }
    }
  }
  return p;
}

function print(p: RetentionPlan, json: boolean | undefined): void {
  if (json) console.log(JSON.stringify(p, null, 2));
  else console.log(p.tables.map(tableLine).join('\n'));
  for (const r of p.refusals) console.error(`refused: ${r}`);
}

export function register(program: Command): void {
  const retention = program
    .command('retention')
    .description(
      'trim old day partitions of the events table, score_log and ingest_batches (docs/operations.md#retention)',
    );
  const withOptions = (c: Command) =>
    c
      .option('--keep-days <n>', 'days of events to keep in every table retention trims')
      .option(
        '--keep <table=days>',
        'days to keep in one table (repeatable; overrides --keep-days)',
        collect,
        [],
      )
      .option('--repo <path>', 'feature repository (default: FEATURE_REPO, else the built-in demo)')
      .option(
        '--allow-unfinalized',
        'drop events and score_log hours the analytics rollups have not finalized',
      )
      .option('--json', 'print the plan as JSON');
  withOptions(retention.command('plan').description('show what apply would drop; changes nothing')).action(
    async (flags: RetentionFlags) => {
      const config = loadConfig();
      const repository = RetentionRepository.fromConfig(config);
      try {
        const p = await plan(config, repository, flags);
        print(p, flags.json);
        if (p.refusals.length) process.exitCode = REFUSED;
      } finally {
        await repository.close();
      }
    },
  );
  withOptions(
    retention.command('apply').description('drop the partitions plan shows, recording each in retention_log'),
  ).action(async (flags: RetentionFlags) => {
    const config = loadConfig();
    const repository = RetentionRepository.fromConfig(config);
    try {
      const p = await plan(config, repository, flags);
      print(p, flags.json);
      if (p.refusals.length) {
        process.exitCode = REFUSED;
        return;
      }
      for (const t of p.tables) {
        for (const part of t.drop) {
          await repository.drop(t.table, part);
          console.error(`dropped ${t.table} partition ${part.partitionId} (${part.rows} rows)`);
        }
      }
    } finally {
      await repository.close();
    }
  });
}
