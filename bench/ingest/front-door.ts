// CPU per 1M events of ingest's per-message work in one process: decode + contract + RowBinary row.
// Compares the repository-derived path (compiled contract, encoder by the table's actual columns) with
// the hand-written one it replaced (ajv JSON Schema + a fixed encoder of the demo events table), on
// the same events in the same run. Usage: npx tsx bench/ingest/front-door.ts [--events 200000]
import { parseArgs } from 'node:util';
import { RowBinaryWriter } from '@mmctr/clickhouse';
import { decode, decodeWith, type BehaviourEvent } from '@mmctr/contracts';
import {
  DEFAULT_FEATURE_REPO_PATH,
  compileEventContract,
  compileEventsEncoder,
  loadFeatureRepo,
  type NormalisedRecord,
} from '@mmctr/feature-repo';
import { DEMO_EVENTS_COLUMNS } from '../../test/support/ingest/demo-columns';
import { makeEvents } from '../../test/support/ingest/events';

const TYPE_CODE = { impression: 1, click: 2, conversion: 3 } as const;

/** The baseline: the fixed encoder of the demo events table ingest used before. */
function legacyEncode(events: readonly BehaviourEvent[], nowS: number): Buffer {
  const w = new RowBinaryWriter(Math.max(1024, events.length * 160));
  for (const e of events) {
    w.string(e.event_id)
      .int8(TYPE_CODE[e.type])
      .uint64(e.ts_ms)
      .dateTime(Math.floor(e.ts_ms / 1000))
      .string(e.user_id)
      .string(e.item_id)
      .string(e.request_id)
      .uint16(e.position ?? 0)
      .string(e.context?.device ?? '')
      .string(e.context?.placement ?? '')
      .string(e.context?.country ?? '')
      .float64(e.value ?? 0)
      .uint8(e.schema_version)
      .dateTime(nowS);
  }
  return w.bytes();
}

const cpuS = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

function measure(
  label: string,
  batches: readonly Buffer[][],
  run: (batch: readonly Buffer[]) => Buffer,
): number {
  const t0 = cpuS();
  let bytes = 0;
  for (const b of batches) bytes += run(b).length;
  const perMillion = ((cpuS() - t0) / batches.reduce((n, b) => n + b.length, 0)) * 1e6;
  console.log(`${label.padEnd(44)} ${perMillion.toFixed(2)} CPU s per 1M events (${bytes} bytes)`);
  return perMillion;
}

function main(): void {
  const { values } = parseArgs({ options: { events: { type: 'string', default: '200000' } } });
  const n = Number(values.events);
  const events = makeEvents('bench', n, 5_000);
  const batches: Buffer[][] = [];
  for (let i = 0; i < n; i += 5_000)
    batches.push(events.slice(i, i + 5_000).map((e) => Buffer.from(JSON.stringify(e))));
  const repo = loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH);
  const contract = compileEventContract(repo);
  const encoder = compileEventsEncoder(repo, {
    database: 'bench',
    table: 'events',
    columns: DEMO_EVENTS_COLUMNS,
  });
  const nowS = Math.floor(Date.now() / 1000);
  const legacy = (batch: readonly Buffer[]) =>
    legacyEncode(
      batch.map((raw) => (decode('event', raw) as { value: BehaviourEvent }).value),
      nowS,
    );
  const compiled = (batch: readonly Buffer[]) =>
    encoder.encode(
      batch.map((raw) => (decodeWith(raw, contract.check) as { value: NormalisedRecord }).value),
      nowS,
    );
  if (!legacy(batches[0]!).equals(compiled(batches[0]!)))
    throw new Error('the two paths write different rows');
  // Warm both (JIT), then alternate so drift in machine load hits both alike.
  for (const b of batches) {
    legacy(b);
    compiled(b);
  }
  let old = 0;
  let now = 0;
  for (let round = 0; round < 3; round++) {
    old += measure(`hand-written (ajv + fixed encoder), round ${round + 1}`, batches, legacy);
    now += measure(`repository-derived (compiled), round ${round + 1}`, batches, compiled);
  }
  console.log(`compiled / hand-written CPU per event: ${(now / old).toFixed(3)}`);
}

main();
