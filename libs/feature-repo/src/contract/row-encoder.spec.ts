import { DEFAULT_FEATURE_REPO_PATH } from '../feature-repo.module';
import { loadFeatureRepo } from '../load';
import { DEMO_EVENTS_COLUMNS } from '../../../../test/support/ingest/demo-columns';
import { compileRowEncoder } from './row-encoder';
import { compileEntityEncoder, compileEventsEncoder } from './table-encoders';

const columns = [
  ['s', 'LowCardinality(String)'],
  ['fs', 'FixedString(4)'],
  ['u8', 'UInt8'],
  ['b', 'UInt8'],
  ['u16', 'UInt16'],
  ['u32', 'UInt32'],
  ['u64', 'UInt64'],
  ['i8', 'Int8'],
  ['i16', 'Int16'],
  ['i32', 'Int32'],
  ['i64', 'Int64'],
  ['f32', 'Float32'],
  ['f64', 'Float64'],
  ['t', 'DateTime'],
  // system.columns writes a quote in an Enum8 value as \'.
  ['e', "Enum8('a' = 1, 'it\\'s' = -3)"],
  ['l', 'Array(String)'],
  ['bookkeeping', 'String'],
].map(([name, type]) => ({ name: name!, type: type! }));

describe('compileRowEncoder', () => {
  it('writes each column by its ClickHouse type, computed columns computed, undeclared ones as zero', () => {
    const enc = compileRowEncoder('t', columns, { t: (_r, nowS) => nowS });
    const row = {
      s: 'é',
      fs: 'ab',
      u8: 255,
      b: true,
      u16: 65_535,
      u32: 1,
      u64: 2 ** 40,
      i8: -1,
      i16: -2,
      i32: -3,
      i64: -(2 ** 40),
      f32: 0.5,
      f64: -1.25,
      e: "it's",
      l: ['x', 'yz'],
    };
    const buf = enc.encode([row], 7);
    const expected = Buffer.concat([
      Buffer.from([2, 0xc3, 0xa9]),
      Buffer.from([0x61, 0x62, 0, 0]),
      Buffer.from([255, 1, 0xff, 0xff, 1, 0, 0, 0]),
      Buffer.from([0, 0, 0, 0, 0, 1, 0, 0]),
      Buffer.from([0xff, 0xfe, 0xff, 0xfd, 0xff, 0xff, 0xff]),
      (() => {
        const b = Buffer.alloc(8);
        b.writeBigInt64LE(-(2n ** 40n));
        return b;
      })(),
      Buffer.from([0, 0, 0, 0x3f]),
      (() => {
        const b = Buffer.alloc(8);
        b.writeDoubleLE(-1.25);
        return b;
      })(),
      Buffer.from([7, 0, 0, 0, 0xfd, 2, 1, 0x78, 2, 0x79, 0x7a, 0]),
    ]);
    expect(buf.toString('hex')).toBe(expected.toString('hex'));
    // A record with nothing: every column its type's zero (an Enum8 its first value).
    expect(enc.encode([{}], 0).toString('hex')).toBe(
      Buffer.concat([
        Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Buffer.alloc(8),
        Buffer.from([0, 0, 0, 0, 0, 0, 0]),
        Buffer.alloc(8 + 4 + 8 + 4),
        Buffer.from([1, 0, 0]),
      ]).toString('hex'),
    );
  });

  it('throws RangeError for a value its column cannot hold (the row is then dead-lettered)', () => {
    const enc = compileRowEncoder('t', [
      { name: 'u16', type: 'UInt16' },
      { name: 'e', type: "Enum8('a' = 1)" },
    ]);
    // Node's out-of-range error (a RangeError outside Jest's sandbox, where ingest checks for it).
    expect(() => enc.encode([{ u16: 70_000, e: 'a' }], 0)).toThrow(/out of range/);
    expect(() => enc.encode([{ u16: 1, e: 'b' }], 0)).toThrow(`"b" is not a value of Enum8('a' = 1)`);
  });

  it('refuses a column type it cannot write, naming table and column', () => {
    expect(() => compileRowEncoder('events', [{ name: 'm', type: 'Map(String, String)' }])).toThrow(
      'events.m: column type Map(String, String) is not supported by ingest',
    );
  });
});

describe('table encoders', () => {
  const demo = loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH);

  it('fail when a declared attribute or event type has no column, telling to apply', () => {
    const src = {
      database: 'db',
      table: 'events',
      columns: DEMO_EVENTS_COLUMNS.filter((c) => c.name !== 'country'),
    };
    expect(() => compileEventsEncoder(demo, src)).toThrow(
      "feature repository demo fs-2: table db.events has no column 'country' (attribute of event type 'impression'): run `mmctr features apply` with this repository",
    );
    const enumless = DEMO_EVENTS_COLUMNS.map((c) =>
      c.name === 'type' ? { ...c, type: "Enum8('impression' = 1)" } : c,
    );
    expect(() => compileEventsEncoder(demo, { ...src, columns: enumless })).toThrow(
      "column db.events.type (Enum8('impression' = 1)) lacks event type click, conversion",
    );
    expect(() => compileEntityEncoder(demo, 'item', { database: 'db', table: 'items', columns: [] })).toThrow(
      'table db.items does not exist: run `mmctr features apply`',
    );
  });
});
