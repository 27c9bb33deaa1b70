import { ClickHouseService, MigrationRunner, loadMigrations, MIGRATIONS_DIR } from '@mmctr/clickhouse';
import type { BehaviourEvent } from '@mmctr/contracts';
import { adminClickHouse, testConfig, uniqueName } from '../../../../test/support/clients';
import {
  DEFAULT_FEATURE_REPO_PATH,
  compileEventsEncoder,
  loadFeatureRepo,
  type NormalisedRecord,
} from '@mmctr/feature-repo';
import { IngestRepository } from './ingest.repository';
import { eventRow } from '../../../../test/support/ingest/demo-rows';

// The RowBinary insert path (the demo repository's encoder, compiled from the real `events` columns of
// the migrations) must store exactly what eventRow (the column mapping the docs, the trainer's loader
// and the tests rely on) says.
const db = uniqueName('mmctr_rowbin');
let admin: ClickHouseService;
let ch: ClickHouseService;

beforeAll(async () => {
  admin = adminClickHouse();
  await new MigrationRunner(admin, db, loadMigrations(MIGRATIONS_DIR)).migrate();
  const c = testConfig();
  ch = new ClickHouseService({
    url: c.CLICKHOUSE_URL,
    database: db,
    username: c.CLICKHOUSE_USER,
    password: c.CLICKHOUSE_PASSWORD,
  });
});

afterAll(async () => {
  await ch.close();
  await admin.command(`DROP DATABASE IF EXISTS ${db}`);
  await admin.close();
});

const base: BehaviourEvent = {
  schema_version: 1,
  event_id: 'e-min',
  type: 'impression',
  ts_ms: 1_767_225_600_999,
  user_id: 'u',
  item_id: 'i',
  request_id: 'r',
};

const events: BehaviourEvent[] = [
  base,
  {
    ...base,
    event_id: 'e-full',
    type: 'conversion',
    position: 65_535,
    value: 1234.5678,
    context: { device: 'mobile', placement: 'feed', country: 'DE' },
  },
  {
    ...base,
    event_id: 'e-unicode',
    type: 'click',
    ts_ms: 4_102_444_799_999, // 2099-12-31
    user_id: 'ü\u00e9😀\ttab\nnewline\\back',
    item_id: 'x'.repeat(300), // a 2-byte LEB128 length
    request_id: '',
    context: { device: '', placement: 'p'.repeat(20_000) },
  },
];

it('stores through RowBinary exactly the rows eventRow describes', async () => {
  const ingestedAt = 1_800_000_000;
  const repo = new IngestRepository(ch, { ...testConfig(), CLICKHOUSE_DATABASE: db });
  const columns = await repo.columns('events');
  const encoder = compileEventsEncoder(loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH), {
    database: db,
    table: 'events',
    columns,
  });
  // Normalised as the compiled contract leaves them: context flattened, defaults filled.
  const records = events.map((e) => eventRow(e, ingestedAt) as unknown as NormalisedRecord);
  expect(await repo.insertRecords(encoder, records, ingestedAt)).toEqual({ rejected: [], inserts: 1 });
  const back = await ch.query<Record<string, unknown>>(
    `SELECT ${columns
      .map(({ name: c }) => (c === 'event_time' || c === 'ingested_at' ? `toUInt32(${c}) AS ${c}` : c))
      .join(', ')}
     FROM events ORDER BY event_id`,
  );
  const expected = events
    .map((e) => eventRow(e, ingestedAt))
    .sort((a, b) => a.event_id.localeCompare(b.event_id));
  expect(back).toHaveLength(expected.length);
  back.forEach((row, i) => {
    const want = expected[i]!;
    // JSONEachRow returns 64-bit integers as strings.
    expect({ ...row, ts_ms: Number(row.ts_ms) }).toEqual(want);
  });
});
