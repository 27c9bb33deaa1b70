import fc from 'fast-check';
import { adminClickHouse } from '../../../test/support/clients';
import { QueryBindError } from './query-binder';
import type { ClickHouseService } from './clickhouse.service';

// Values round-trip through the real server and come back byte for byte: strings are compared as
// hex of their UTF-8 bytes, floats as hex of their IEEE-754 bytes.
const RUNS = 1000;
const tricky = fc.constantFrom(
  "'",
  '\\',
  '\0',
  '\n',
  '\r',
  '\t',
  '`',
  '"',
  '{x:String}',
  '{v:String}',
  "\\'",
  '--',
  ';',
  '/*',
  'é',
  '😀',
  '\u2028',
);
const nasty = fc
  .array(fc.oneof(tricky, fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' })), { maxLength: 6 })
  .map((p) => p.join(''));
const wellFormed = nasty.filter((s) => Buffer.from(s, 'utf8').toString('utf8') === s); // lone surrogates are rejected (unit-tested)

let ch: ClickHouseService;
beforeAll(() => {
  ch = adminClickHouse();
});
afterAll(async () => {
  await ch.close();
});

const hexUtf8 = (s: string) => Buffer.from(s, 'utf8').toString('hex').toUpperCase();
const hexF64 = (x: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return b.toString('hex').toUpperCase();
};

describe('query binder against the real server', () => {
  it('round-trips strings byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(wellFormed, async (v) => {
        const [row] = await ch.query<{ h: string; v: string }>(
          'SELECT hex({v:String}) AS h, {v:String} AS v',
          { v },
        );
        expect(row?.h).toBe(hexUtf8(v));
      }),
      { numRuns: RUNS },
    );
  });

  it('round-trips 64-bit integers and floats', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.double({ noNaN: true }),
        async (i, u, f) => {
          const [row] = await ch.query<{ i: string; u: string; f: string }>(
            'SELECT toString({i:Int64}) AS i, toString({u:UInt64}) AS u, hex(reinterpretAsString({f:Float64})) AS f',
            { i, u, f },
          );
          // reinterpretAsString drops trailing zero bytes; the value is always 8 bytes wide
          expect({ ...row, f: row?.f.padEnd(16, '0') }).toEqual({
            i: i.toString(),
            u: u.toString(),
            f: hexF64(f),
          });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('round-trips arrays of strings and integers, also through IN', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(wellFormed, { maxLength: 8 }),
        fc.array(fc.integer(), { maxLength: 8 }),
        async (strs, ints) => {
          const [row] = await ch.query<{ s: string[]; n: string[] }>(
            'SELECT arrayMap(x -> hex(x), {s:Array(String)}) AS s, arrayMap(x -> toString(x), {n:Array(Int32)}) AS n',
            { s: strs, n: ints },
          );
          expect(row).toEqual({ s: strs.map(hexUtf8), n: ints.map(String) });
          if (strs.length > 0) {
            const found = await ch.query<{ h: string }>(
              'SELECT hex(x) AS h FROM (SELECT arrayJoin({all:Array(String)}) AS x) WHERE x IN {s:Array(String)}',
              { all: strs, s: strs },
            );
            expect(found.map((r) => r.h)).toEqual(strs.map(hexUtf8));
          }
        },
      ),
      { numRuns: Math.floor(RUNS / 2) },
    );
  });

  it('keeps injection attempts inert', async () => {
    await ch.command('CREATE TABLE IF NOT EXISTS default.binder_canary (x UInt8) ENGINE = Memory');
    const attempts = [
      "'); DROP TABLE default.binder_canary; --",
      "\\'; DROP TABLE default.binder_canary; --",
      "' OR 1=1 --",
      "x' AS String), (SELECT 1) --",
      '{v:String}); DROP TABLE default.binder_canary; --',
    ];
    for (const v of attempts) {
      const [row] = await ch.query<{ v: string }>('SELECT {v:String} AS v', { v });
      expect(row?.v).toBe(v);
    }
    const [col] = await ch.query<Record<string, number>>('SELECT 1 AS {c:Identifier}', { c: 'a` , 2 AS `b' });
    expect(Object.keys(col ?? {})).toEqual(['a` , 2 AS `b']);
    await expect(ch.query('SELECT {n:UInt32}', { n: '1; DROP TABLE default.binder_canary' })).rejects.toThrow(
      QueryBindError,
    );
    const [exists] = await ch.query<{ n: string }>(
      "SELECT count() AS n FROM system.tables WHERE database = 'default' AND name = 'binder_canary'",
    );
    expect(Number(exists?.n)).toBe(1);
    await ch.command('DROP TABLE default.binder_canary');
  });
});
