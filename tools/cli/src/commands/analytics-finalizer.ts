import type { AnalyticsRepository, HourSignature, LedgerHour } from '../analytics.repository';

export interface FinalizeOptions {
  /** Unix seconds; hours before it are not recomputed (they must be finalized already, or empty). */
  fromS?: number;
  /** Unix seconds; only hours that end at or before it are finalized. */
  toS: number;
  /** Recompute every hour in range, dirty or not. */
  force?: boolean;
  /** Called after each day's hours are written, with the number of hours done and to do. */
  progress?: (done: number, total: number) => void;
}

export interface FinalizeResult {
  /** Hours of ingest_batches (store time) rolled up into ingest_health_hourly. */
  ingestHours: number;
  /** The newest version written (each day finalized gets its own). */
  version: number;
  hours: number;
  days: number;
  /** Unix seconds of the first hour read at query time after this run (0 when nothing is finalized). */
  watermark: number;
  /** Unix seconds before which hours are frozen by retention, and left as they are (0: none). */
  frozenBefore: number;
}

export class FinalizeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FinalizeError';
  }
}

const changed = (s: HourSignature, l: LedgerHour | undefined): boolean =>
  !l ||
  l.eventRows !== s.eventRows ||
  l.eventMaxIngestedAt !== s.eventMaxIngestedAt ||
  l.scoreRows !== s.scoreRows ||
  l.scoreMaxIngestedAt !== s.scoreMaxIngestedAt;

export interface PendingHours {
  /** The range asked for, in whole hours. */
  fromS: number;
  toS: number;
  /** The hours to recompute, oldest first. */
  dirty: number[];
  /** The stored signature of every hour considered (those not frozen by retention). */
  byHour: Map<number, HourSignature>;
  ledger: LedgerHour[];
  frozenBefore: number;
}

/**
 * The dirty hours before `toS` (from `fromS`): an hour never finalized, one whose events or score_log
 * rows changed since (late or redelivered rows, merges), and one whose impressions got a late click,
 * conversion or score. Hours frozen by retention are never dirty.
 */
export async function pendingHours(
  repo: AnalyticsRepository,
  opts: Pick<FinalizeOptions, 'fromS' | 'toS' | 'force'>,
): Promise<PendingHours> {
  const toS = Math.floor(opts.toS / 3600) * 3600;
  const fromS = opts.fromS === undefined ? 0 : Math.floor(opts.fromS / 3600) * 3600;
  const [stored, ledger, frozenBefore] = await Promise.all([
    repo.signatures(toS),
    repo.ledger(),
    repo.frozenBeforeS(),
  ]);
  // Hours whose source rows retention dropped (or may have, through the lookback) keep their rollups.
  const signatures = stored.filter((s) => s.hour >= frozenBefore);
  const ledgerByHour = new Map(ledger.map((l) => [l.hour, l]));
  const byHour = new Map(signatures.map((s) => [s.hour, s]));

  const unfinalizedBefore = signatures.find((s) => s.hour < fromS && !ledgerByHour.has(s.hour));
  if (unfinalizedBefore) {
    throw new FinalizeError(
      `hour ${new Date(unfinalizedBefore.hour * 1000).toISOString()} before --from has events but was never ` +
        `finalized: finalize it first (run without --from)`,
    );
  }
  const inRange = signatures.filter((s) => s.hour >= fromS);
  const dirty = new Set(
    inRange.filter((s) => opts.force || changed(s, ledgerByHour.get(s.hour))).map((s) => s.hour),
  );
  // Late outcomes and scores change their impressions' hours too (skipped when every hour is dirty).
  if (dirty.size && dirty.size < inRange.length) {
    const eventHours = [...dirty].filter((h) => {
      const l = ledgerByHour.get(h);
      const s = byHour.get(h)!;
      return !l || l.eventRows !== s.eventRows || l.eventMaxIngestedAt !== s.eventMaxIngestedAt;
    });
    const scoreHours = [...dirty].filter((h) => {
      const l = ledgerByHour.get(h);
      const s = byHour.get(h)!;
      return !l || l.scoreRows !== s.scoreRows || l.scoreMaxIngestedAt !== s.scoreMaxIngestedAt;
    });
    for (const h of await repo.linkedImpressionHours(eventHours, scoreHours, toS)) {
      if (h >= fromS && byHour.has(h)) dirty.add(h);
    }
  }
  return { fromS, toS, dirty: [...dirty].sort((a, b) => a - b), byHour, ledger, frozenBefore };
}

/**
 * Finalizes every dirty hour before `toS` (`pendingHours`). Each day's hours are recomputed whole under
 * one new version. A second run with nothing stored in between finds nothing dirty and writes nothing.
 */
export async function finalize(repo: AnalyticsRepository, opts: FinalizeOptions): Promise<FinalizeResult> {
  const { fromS, toS, dirty, byHour, ledger, frozenBefore } = await pendingHours(repo, opts);

  const days = new Map<number, HourSignature[]>();
  for (const h of dirty) {
    const s = byHour.get(h)!;
    days.set(s.day, [...(days.get(s.day) ?? []), s]);
  }
  // Newer than every version written so far, so the ledger's max(version) picks this run; one version
  // per day, so a month rebuilt after each of its days has one set of rows per version.
  const first = ledger.reduce((v, l) => Math.max(v, l.version + 1), Date.now());
  let version = first - 1;
  let done = 0;
  opts.progress?.(0, dirty.length);
  for (const [day, hours] of days) {
    await repo.finalizeDay(day, hours, ++version);
    done += hours.length;
    opts.progress?.(done, dirty.length);
  }
  const ingestHours = await rollUpIngestHealth(repo, fromS, toS, opts.force ?? false);
  // Spread-free maxima: years of hours would overflow Math.max's argument list.
  const newest = [...ledger.map((l) => l.hour), ...dirty].reduce((m, h) => Math.max(m, h), -1);
  return {
    version,
    hours: dirty.length,
    days: days.size,
    ingestHours,
    watermark: newest < 0 ? 0 : newest + 3600,
    frozenBefore,
  };
}

/**
 * Ingestion health per hour of store time: the hours in [fromS, toS) whose batches changed since they
 * were rolled up, in one insert under a new version. Batches are stored at the time they are logged, so
 * an hour before `toS` rarely changes again.
 */
async function rollUpIngestHealth(
  repo: AnalyticsRepository,
  fromS: number,
  toS: number,
  force: boolean,
): Promise<number> {
  const hours = (await repo.dirtyIngestHours(toS, force)).filter((h) => h >= fromS);
  if (hours.length) {
    await repo.rollUpIngestHours(hours, Math.max((await repo.ingestHealthVersion()) + 1, Date.now()));
  }
  return hours.length;
}
