import { parseArgs } from 'node:util';
import { bindQuery, type ClickHouseService, type QueryParams } from '@mmctr/clickhouse';
import { AnalyticsRepository, type HourSignature } from '../../cli/src/analytics.repository';

/**
 * Prints, as JSON, the writes `mmctr analytics finalize` sends to finalize the given hours (UTC days),
 * bound exactly as ClickHouseService binds them: `[{ command } | { insert, rows }]`, so that
 * apps/trainer/tests/test_modern_clickhouse.py can run them on a modern server and on 18.16.
 *   node -r ./scripts/register.js tools/compat/src/finalize-statements.ts --hours <unix s,...> --version <n>
 */
type Write = { command: string } | { insert: string; rows: unknown[] };

function recordingClient(out: Write[]): ClickHouseService {
  const client = {
    async command(sql: string, params?: QueryParams): Promise<void> {
      out.push({ command: bindQuery(sql, params) });
    },
    async insert(table: string, rows: unknown[]): Promise<void> {
      out.push({ insert: table, rows });
    },
  };
  return client as unknown as ClickHouseService;
}

export async function finalizeStatements(hours: number[], version: number): Promise<Write[]> {
  const out: Write[] = [];
  const repo = new AnalyticsRepository(recordingClient(out));
  const days = new Map<number, HourSignature[]>();
  for (const hour of hours) {
    const day = Math.floor(hour / 86_400) * 86_400;
    const signature = { hour, day, eventRows: 0, eventMaxIngestedAt: 0, scoreRows: 0, scoreMaxIngestedAt: 0 };
    days.set(day, [...(days.get(day) ?? []), signature]);
  }
  let v = version;
  for (const [day, signatures] of days) await repo.finalizeDay(day, signatures, v++);
  return out;
}

if (require.main === module) {
  const { values } = parseArgs({ options: { hours: { type: 'string' }, version: { type: 'string' } } });
  const hours = (values.hours ?? '').split(',').filter(Boolean).map(Number);
  const version = Number(values.version);
  if (
    !hours.length ||
    hours.some((h) => !Number.isInteger(h) || h % 3600 !== 0) ||
    !Number.isInteger(version)
  ) {
    console.error(
      'finalize-statements: give --hours <unix seconds of hour starts, comma-separated> --version <integer>',
    );
    process.exit(2);
  }
  finalizeStatements(hours, version).then(
    (w) => console.log(JSON.stringify(w)),
    (err: Error) => {
      console.error(`finalize-statements: ${err.message}`);
      process.exit(1);
    },
  );
}
