import fc from 'fast-check';
import { isUtf8 } from 'node:buffer';
import { MAX_REASON_CHARS, type BehaviourEvent, type CatalogueItem } from '@mmctr/contracts';
import {
  DEFAULT_FEATURE_REPO_PATH,
  compileEntityContract,
  compileEventContract,
  compileEventsEncoder,
  loadFeatureRepo,
  type NormalisedRecord,
} from '@mmctr/feature-repo';
import { DEMO_EVENTS_COLUMNS } from '../../../../test/support/ingest/demo-columns';
import { routeMessages } from './message-router';
import * as fuzz from '../../../../test/support/ingest/fuzz';
import { eventRow, itemRow } from '../../../../test/support/ingest/demo-rows';

// Property test of the ingest front door: random bytes, random JSON and events/items carrying random
// Unicode (lone surrogates included) go through routeMessages (the demo repository's compiled
// contracts) and the compiled events encoder as real Buffers.
// Every message must come out either as a row holding exactly what was sent or as a dead letter with a
// reason and its original bytes; nothing may throw.

const INGESTED_AT = 1_767_225_600;
const demo = loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH);
const contracts = {
  event: compileEventContract(demo).check,
  item: compileEntityContract(demo, 'item').check,
};
type ContractKind = keyof typeof contracts;
const encoder = compileEventsEncoder(demo, {
  database: 'fuzz',
  table: 'events',
  columns: DEMO_EVENTS_COLUMNS,
});

/** Reads back what encodeEvents wrote (RowBinary), in its column order. */
function readEvents(buf: Buffer): Record<string, unknown>[] {
  let at = 0;
  const varint = (): number => {
    let n = 0;
    let shift = 0;
    for (;;) {
      const b = buf[at++]!;
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
      shift += 7;
    }
  };
  const str = (): string => {
    const n = varint();
    const s = buf.subarray(at, at + n);
    at += n;
    // The exact bytes must be valid UTF-8 (ClickHouse stores bytes; readers decode them).
    expect(isUtf8(s)).toBe(true);
    return s.toString('utf8');
  };
  const rows: Record<string, unknown>[] = [];
  const types = ['', 'impression', 'click', 'conversion'];
  while (at < buf.length) {
    const r: Record<string, unknown> = {};
    r.event_id = str();
    r.type = types[buf.readInt8(at++)];
    r.ts_ms = Number(buf.readBigUInt64LE(at));
    at += 8;
    r.event_time = buf.readUInt32LE(at);
    at += 4;
    r.user_id = str();
    r.item_id = str();
    r.request_id = str();
    r.position = buf.readUInt16LE(at);
    at += 2;
    r.device = str();
    r.placement = str();
    r.country = str();
    r.value = buf.readDoubleLE(at);
    at += 8;
    r.schema_version = buf.readUInt8(at++);
    r.ingested_at = buf.readUInt32LE(at);
    at += 4;
    rows.push(r);
  }
  return rows;
}

/** Routes one message and checks the outcome; returns the stored record, or undefined if dead-lettered. */
function route(kind: ContractKind, value: Buffer): NormalisedRecord | undefined {
  const { valid, invalid } = routeMessages(contracts[kind], 'fuzz', 3, [{ offset: '7', key: null, value }]);
  expect(valid.length + invalid.length).toBe(1);
  if (invalid.length === 1) {
    const d = invalid[0]!;
    expect(d.value).toBe(value); // the original bytes, untouched
    expect(d.reason.length).toBeGreaterThan(0);
    expect(d.reason.length).toBeLessThanOrEqual(MAX_REASON_CHARS);
    expect(fuzz.utf8RoundTrips(d.reason)).toBe(true); // a header value, sent as UTF-8
    return undefined;
  }
  const rec = valid[0]!;
  // Stored only if the bytes were valid UTF-8 JSON and decoded to exactly this record.
  expect(isUtf8(value)).toBe(true);
  expect(fuzz.allStrings(rec).every(fuzz.utf8RoundTrips)).toBe(true);
  const sent = JSON.parse(value.toString('utf8')) as BehaviourEvent & CatalogueItem;
  if (kind === 'event') checkEventRow(sent, rec);
  else checkItemRow(sent, rec);
  return rec;
}

/** The record is the event with its context flattened and defaults filled; its row is what eventRow says. */
function checkEventRow(e: BehaviourEvent, rec: NormalisedRecord): void {
  const expected = { ...fuzz.expectedEventFields(e), schema_version: 1 };
  expect(rec).toEqual(expected);
  const row = eventRow(e, INGESTED_AT);
  expect(row).toEqual({ ...expected, event_time: Math.floor(e.ts_ms / 1000), ingested_at: INGESTED_AT });
  expect(readEvents(encoder.encode([rec], INGESTED_AT))).toEqual([row]);
}

function checkItemRow(i: CatalogueItem, rec: NormalisedRecord): void {
  expect(rec).toEqual({ ...fuzz.expectedItemFields(i), schema_version: 1, ts_ms: i.ts_ms });
  const row = itemRow(i, INGESTED_AT);
  expect(row).toMatchObject({ ...fuzz.expectedItemFields(i), ts_ms: i.ts_ms });
  expect(row.content_hash).toMatch(/^[0-9a-f]{64}$/);
  // Items are inserted as JSONEachRow: the JSON text carries the strings exactly.
  expect(JSON.parse(JSON.stringify(row))).toEqual(row);
}

const eventArb: fc.Arbitrary<BehaviourEvent> = fc
  .tuple(
    fc.stringMatching(/^[A-Za-z0-9_.:-]{1,64}$/),
    fuzz.eventFields(fc.integer({ min: 946_684_800_000, max: 4_102_444_800_000 }), 60, [16, 30, 4]),
  )
  .map(([event_id, e]) => ({ schema_version: 1, event_id, ...e }));

const itemArb: fc.Arbitrary<CatalogueItem> = fuzz
  .itemFields(fc.integer({ min: 946_684_800_000, max: 4_102_444_800_000 }), {
    id: 60,
    title: 200,
    description: 400,
    category: 30,
    tag: 30,
    image: 200,
  })
  .map((i) => ({ schema_version: 1, ...i }));

const bytesOf = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8');
const RUNS = 2_500;

/** Random `kind` records are routed: stored when every string is well-formed, else dead-lettered. */
function routesByWellFormedness<T>(kind: ContractKind, arb: fc.Arbitrary<T>): void {
  fc.assert(
    fc.property(arb, (v) => {
      const rec = route(kind, bytesOf(v));
      // JSON.stringify escapes a lone surrogate (\udXXX): valid bytes, so only the contract can catch it.
      if (fuzz.allStrings(v).every(fuzz.utf8RoundTrips)) expect(rec).toBeDefined();
      else expect(rec).toBeUndefined();
    }),
    { numRuns: RUNS },
  );
}

describe('ingest fuzz: routeMessages + compiled encoder', () => {
  it('stores an event with random Unicode exactly as given, or dead-letters it if a string is not well-formed', () => {
    routesByWellFormedness('event', eventArb);
  });

  it('stores an item with random Unicode exactly as given, or dead-letters it if a string is not well-formed', () => {
    routesByWellFormedness('item', itemArb);
  });

  it('never stores an event whose bytes were corrupted into invalid UTF-8 (no U+FFFD rewriting)', () => {
    fc.assert(
      fc.property(eventArb, fuzz.invalidUtf8, fc.nat(), (e, bad, where) => {
        const good = bytesOf(e);
        const value = fuzz.splice(good, where % (good.length + 1), bad);
        expect(route('event', value)).toBeUndefined();
        const { invalid } = routeMessages(contracts.event, 'fuzz', 0, [{ offset: '0', key: null, value }]);
        expect(invalid[0]!.reason).toMatch(/^invalid UTF-8 at byte \d+$/);
      }),
      { numRuns: RUNS },
    );
  });

  it('routes random bytes, byte-flipped events and random JSON without throwing', () => {
    const flipped = fc.tuple(eventArb, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([e, where, b]) => {
      const buf = bytesOf(e);
      buf[where % buf.length] = b;
      return buf;
    });
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      flipped,
      fc.jsonValue().map(bytesOf),
      fc.object().map((o) => Buffer.from(JSON.stringify(o) ?? 'null')),
    );
    fc.assert(
      fc.property(input, fc.constantFrom<ContractKind>('event', 'item'), (value, kind) => {
        route(kind, value);
      }),
      { numRuns: RUNS * 2 },
    );
  });
});
