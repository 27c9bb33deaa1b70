import { durationMs, eventsTable, type FeatureRepo } from '@mmctr/feature-repo';
import { ANALYTICS_SOURCES } from '../analytics.repository';
import type { PartitionInfo } from '../retention.repository';

const DAY_S = 86_400;

/**
 * The tables retention trims, all partitioned by day of `event_time`: the repository's events table,
 * the score log and the ingest ledger. Entity snapshots, registries and rollups are never trimmed.
 */
export function retentionTables(repo: FeatureRepo): string[] {
  return [...new Set([eventsTable(repo), 'score_log', 'ingest_batches'])];
}

/** `--keep-days` and `--keep <table>=<days>` as days per table; throws naming the bad flag. */
export function keepDaysPerTable(
  tables: readonly string[],
  keepDays: string | undefined,
  overrides: readonly string[],
): Map<string, number> {
  const days = (flag: string, v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1)
      throw new Error(`${flag} must be a whole number of days ≥ 1, got '${v}'`);
    return Number(v);
  };
  const out = new Map<string, number>();
  if (keepDays !== undefined) {
    const d = days('--keep-days', keepDays);
    for (const t of tables) out.set(t, d);
  }
  for (const o of overrides) {
    const m = /^([^=]+)=(.*)$/.exec(o);
    if (!m) throw new Error(`--keep takes <table>=<days>, got '${o}'`);
    if (!tables.includes(m[1]!))
      throw new Error(`--keep ${m[1]}: not a table retention trims (${tables.join(', ')})`);
    out.set(m[1]!, days(`--keep ${m[1]}`, m[2]!));
  }
  if (out.size === 0)
    throw new Error('say how many days to keep: --keep-days <n> and/or --keep <table>=<days>');
  return out;
}

export interface TablePlan {
  table: string;
  keepDays: number;
  /** Unix seconds: a partition whose newest event is older than this is dropped. */
  cutoffS: number;
  drop: PartitionInfo[];
  keep: PartitionInfo[];
}

export interface RetentionPlan {
  tables: TablePlan[];
  /** Why the plan may not be applied; empty when it may. */
  refusals: string[];
}

export interface PlanInputs {
  repo: FeatureRepo;
  keepDays: ReadonlyMap<string, number>;
  partitions: ReadonlyMap<string, readonly PartitionInfo[]>;
  nowS: number;
}

/** The longest aggregate window of the repository, in ms, and the aggregation that declares it. */
function longestWindow(repo: FeatureRepo): { ms: number; name: string; window: string } | undefined {
  let best: { ms: number; name: string; window: string } | undefined;
  for (const a of repo.aggregations ?? []) {
    for (const w of a.windows) {
      const ms = durationMs(w);
      if (!best || ms > best.ms) best = { ms, name: a.name, window: w };
    }
  }
  return best;
}

const iso = (s: number) => new Date(s * 1000).toISOString();

/**
 * Which partitions go: per table, those whose newest event is older than `keepDays` before the server's
 * now (a day partition goes whole, once all of it is older). Refused, with the reason, when the events
 * table would keep less than the longest aggregate window (offline aggregates, for training sets and
 * parity, would miss events the online counters counted). Whether the rollups are final where the drop
 * freezes them is `unfinalizedRefusal`'s to say.
 */
export function planRetention(inputs: PlanInputs): RetentionPlan {
  const { repo, keepDays, partitions, nowS } = inputs;
  const refusals: string[] = [];
  const tables: TablePlan[] = [];
  const longest = longestWindow(repo);
  for (const [table, days] of keepDays) {
    const cutoffS = nowS - days * DAY_S;
    const all = partitions.get(table) ?? [];
    const drop = all.filter((p) => p.newestS < cutoffS);
    const keep = all.filter((p) => p.newestS >= cutoffS);
    tables.push({ table, keepDays: days, cutoffS, drop, keep });
    if (table === eventsTable(repo) && longest && days * DAY_S * 1000 < longest.ms) {
      refusals.push(
        `${table}: keeping ${days} days is shorter than the aggregation '${longest.name}' window ${longest.window}; ` +
          'training sets and parity checks compute it from these events',
      );
    }
  }
  return { tables, refusals };
}

/** The newest event among the analytics sources' partitions the plan drops (undefined: it drops none). */
export function newestSourceDropS(plan: RetentionPlan): number | undefined {
  const newest = plan.tables
    .filter((t) => ANALYTICS_SOURCES.includes(t.table))
    .flatMap((t) => t.drop.map((p) => p.newestS));
  return newest.length ? Math.max(...newest) : undefined;
}

/**
 * Once the plan's drops are applied, the finalizer leaves every hour before `frozenBeforeS` as it is: a
 * refusal when one of those hours is still `pending` (never finalized, or given late events, outcomes or
 * scores since), since its rollups would never include them.
 */
export function unfinalizedRefusal(
  plan: RetentionPlan,
  frozenBeforeS: number,
  pending: readonly number[],
): string | undefined {
  const frozen = pending.filter((h) => h < frozenBeforeS);
  if (!frozen.length) return undefined;
  const tables = plan.tables.filter((t) => ANALYTICS_SOURCES.includes(t.table) && t.drop.length);
  return (
    `${tables.map((t) => t.table).join(', ')}: the drop freezes the analytics rollups before ${iso(frozenBeforeS)}, ` +
    `and ${frozen.length} hour(s) there are not finalized (the first ${iso(frozen[0]!)}): run ` +
    '`mmctr analytics finalize` first (it finalizes hours that have ended), keep more days, or pass ' +
    '--allow-unfinalized'
  );
}
