import { parseArgs } from 'node:util';
import { bindQuery, type ClickHouseService, type QueryParams } from '@mmctr/clickhouse';
import { AnalyticsRepository, type HourSignature } from '../../cli/src/analytics.repository';

/**
 * Prints, as JSON, what `mmctr analytics finalize` sends to finalize the given event hours (UTC days) and
 * roll up the given ingest hours, bound exactly as ClickHouseService binds it: `{ writes: [{ command } |
 * { insert, rows }], dirtyIngestHours: <its read, up to the end of the last ingest hour> }`, so that
 * apps/trainer/tests/test_modern_clickhouse.py can run it on a modern server and on 18.16.
 *   node -r ./scripts/register.js tools/compat/src/finalize-statements.ts \
 *     --hours <unix s,...> --ingest-hours <unix s,...> --version <n>
 */
type Write = { command: string } | { insert: string; rows: unknown[] };

function recordingClient(writes: Write[], reads: string[]): ClickHouseService {
  const client = {
    async command(sql: string, params?: QueryParams): Promise<void> {
      writes.push({ command: bindQuery(sql, params) });
    },
    async insert(table: string, rows: unknown[]): Promise<void> {
      writes.push({ insert: table, rows });
    },
    async query(sql: string, params?: QueryParams): Promise<unknown[]> {
      reads.push(bindQuery(sql, params));
      return [];
    },
  };
  return client as unknown as ClickHouseService;
}

export async function finalizeStatements(hours: number[], ingestHours: number[], version: number) {
  const writes: Write[] = [];
  const reads: string[] = [];
  const repo = new AnalyticsRepository(recordingClient(writes, reads));
  const days = new Map<number, HourSignature[]>();
  for (const hour of hours) {
    const day = Math.floor(hour / 86_400) * 86_400;
    const signature = { hour, day, eventRows: 0, eventMaxIngestedAt: 0, scoreRows: 0, scoreMaxIngestedAt: 0 };
    days.set(day, [...(days.get(day) ?? []), signature]);
  }
  let v = version;
  for (const [day, signatures] of days) await repo.finalizeDay(day, signatures, v++);
  await repo.rollUpIngestHours(ingestHours, v);
  await repo.dirtyIngestHours(Math.max(...ingestHours) + 3600, false);
  return { writes, dirtyIngestHours: reads[0]! };
}

function hourList(flag: string, value: string | undefined): number[] {
  const hours = (value ?? '').split(',').filter(Boolean).map(Number);
  if (!hours.length || hours.some((h) => !Number.isInteger(h) || h % 3600 !== 0)) {
    throw new Error(`--${flag} must list unix seconds of hour starts, comma-separated; got '${value ?? ''}'`);
  }
  return hours;
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      hours: { type: 'string' },
      'ingest-hours': { type: 'string' },
      version: { type: 'string' },
    },
  });
  const version = Number(values.version);
  Promise.resolve()
    .then(() => {
      if (!Number.isInteger(version))
        throw new Error(`--version must be an integer; got '${values.version}'`);
      return finalizeStatements(
        hourList('hours', values.hours),
        hourList('ingest-hours', values['ingest-hours']),
        version,
      );
    })
    .then(
      (out) => console.log(JSON.stringify(out)),
      (err: Error) => {
        console.error(`finalize-statements: ${err.message}`);
        process.exit(1);
      },
    );
}
