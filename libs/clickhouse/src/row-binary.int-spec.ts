import fc from 'fast-check';
import { adminClickHouse } from '../../../test/support/clients';
import type { ClickHouseService } from './clickhouse.service';
import { RowBinaryReader, RowBinaryWriter } from './row-binary';

// Rows encoded with RowBinaryWriter go through the real server and come back unchanged: strings are
// compared as hex of their UTF-8 bytes (lengths cross the 1-, 2- and 3-byte LEB128 boundaries),
// floats as hex of their IEEE-754 bytes.
const table = `default.row_binary_probe_${process.pid}_${Date.now()}`;
const COLUMNS = ['s', 'e', 'u8', 'u16', 'u64', 'f', 't', 'v'];

interface Row {
  s: string;
  e: 1 | 2 | 3;
  u8: number;
  u16: number;
  u64: number;
  f: number;
  t: number;
  v: number[];
}

const longish = fc.integer({ min: 0, max: 20_000 }).map((n) => 'x'.repeat(n));
const text = fc
  .oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), longish, fc.constant('é😀\t\n\\\0'))
  .filter((s) => Buffer.from(s, 'utf8').toString('utf8') === s); // no lone surrogates
const row: fc.Arbitrary<Row> = fc.record({
  s: text,
  e: fc.constantFrom(1 as const, 2 as const, 3 as const),
  u8: fc.integer({ min: 0, max: 255 }),
  u16: fc.integer({ min: 0, max: 65_535 }),
  u64: fc.oneof(
    fc.integer({ min: 0, max: 2 ** 32 }),
    fc.maxSafeInteger().filter((n) => n >= 0),
  ),
  f: fc.double({ noNaN: true }),
  t: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  // Lengths across the 1- and 2-byte LEB128 boundary (128).
  v: fc.array(fc.float({ noNaN: true }), { maxLength: 300 }),
});

const float32Hex = (f: number) => {
  const b = Buffer.alloc(4);
  b.writeFloatLE(f);
  return b.toString('hex').replace(/(00)+$/, '');
};

const floatHex = (f: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(f);
  return b.toString('hex');
};

let ch: ClickHouseService;
beforeAll(async () => {
  ch = adminClickHouse();
  await ch.command(
    `CREATE TABLE ${table} (n UInt32, s String, e Enum8('a' = 1, 'b' = 2, 'c' = 3), u8 UInt8, u16 UInt16,
       u64 UInt64, f Float64, t DateTime, v Array(Float32)) ENGINE = Memory`,
  );
});
afterAll(async () => {
  await ch.command(`DROP TABLE IF EXISTS ${table}`);
  await ch.close();
});

/** Inserts `rows` numbered from `first`, through a writer with a tiny initial buffer (growing is exercised too). */
async function insertRows(rows: Row[], first: number): Promise<void> {
  const w = new RowBinaryWriter(16);
  rows.forEach((r, n) => {
    w.uint32(first + n)
      .string(r.s)
      .int8(r.e)
      .uint8(r.u8)
      .uint16(r.u16)
      .uint64(r.u64)
      .float64(r.f)
      .dateTime(r.t)
      .float32Array(new Float32Array(r.v));
  });
  await ch.insertRowBinary(table, ['n', ...COLUMNS], w.bytes());
}

it('round-trips every column type through the real server', async () => {
  const rows = fc.sample(row, { numRuns: 2_000, seed: 42 });
  await insertRows(rows, 0);
  const back = await ch.query<{
    n: number;
    s: string;
    e: string;
    u8: number;
    u16: number;
    u64: string;
    f: string;
    t: number;
    v: string[];
  }>(
    `SELECT n, hex(s) AS s, toString(e) AS e, u8, u16, toString(u64) AS u64, hex(reinterpretAsString(f)) AS f,
            toUInt32(t) AS t, arrayMap(x -> hex(reinterpretAsString(x)), v) AS v
     FROM ${table} ORDER BY n`,
  );
  expect(back).toHaveLength(rows.length);
  back.forEach((b, n) => {
    const r = rows[n]!;
    expect(b.s).toBe(Buffer.from(r.s, 'utf8').toString('hex').toUpperCase());
    expect(b.e).toBe(['a', 'b', 'c'][r.e - 1]);
    expect([Number(b.u8), Number(b.u16), b.u64, Number(b.t)]).toEqual([r.u8, r.u16, String(r.u64), r.t]);
    // reinterpretAsString drops trailing zero bytes.
    expect(b.f.toLowerCase()).toBe(floatHex(r.f).replace(/(00)+$/, ''));
    expect(b.v.map((h) => h.toLowerCase())).toEqual(r.v.map(float32Hex));
  });
});

it('reads the same rows back as RowBinary (strings, UInt64, Array(Float32))', async () => {
  const rows = fc.sample(row, { numRuns: 500, seed: 7 });
  await insertRows(rows, 1_000_000);
  const answer = await ch.queryRowBinary(
    `SELECT s, u64, v FROM ${table} WHERE n >= {from:UInt32} ORDER BY n`,
    { from: 1_000_000 },
  );
  const back: { s: string; u64: number; v: number[] }[] = [];
  for (const r = new RowBinaryReader(answer); !r.done;)
    back.push({ s: r.string(), u64: r.uint64(), v: Array.from(r.float32Array()) });
  expect(back).toEqual(rows.map((r) => ({ s: r.s, u64: r.u64, v: Array.from(new Float32Array(r.v)) })));
  // An answer cut short is refused, not read as fewer rows.
  const cut = new RowBinaryReader(answer.subarray(0, answer.length - 1));
  expect(() => {
    while (!cut.done) {
      cut.string();
      cut.uint64();
      cut.float32Array();
    }
  }).toThrow('RowBinary answer ends 1 bytes short');
});

it('refuses values a column cannot hold and names that would need quoting', async () => {
  expect(() => new RowBinaryWriter().uint64(-1)).toThrow(RangeError);
  expect(() => new RowBinaryWriter().uint64(2 ** 53)).toThrow(RangeError);
  await expect(ch.insertRowBinary(table, ['n; DROP TABLE x'], Buffer.from([0]))).rejects.toThrow(
    'not a plain column name',
  );
});
