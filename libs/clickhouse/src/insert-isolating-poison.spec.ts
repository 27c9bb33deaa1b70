import { parseClickHouseError } from './clickhouse-error';
import { insertIsolatingPoison, isRowDataError, RowEncodingError } from './insert-isolating-poison';

/** A fake table that refuses any insert containing a row in `bad` with an 18.16-style error. */
function fakeTable(bad: Set<number>, code = 25) {
  const stored: number[] = [];
  const calls: number[][] = [];
  const insert = async (rows: readonly number[]) => {
    calls.push([...rows]);
    const hit = rows.find((r) => bad.has(r));
    if (hit !== undefined)
      throw new Error(`Code: ${code}, e.displayText() = DB::Exception: Cannot parse row ${hit}`);
    stored.push(...rows);
  };
  return { insert, stored, calls };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('insertIsolatingPoison', () => {
  it('inserts once when nothing is refused', async () => {
    const t = fakeTable(new Set());
    const r = await insertIsolatingPoison(range(1_000), t.insert);
    expect(r).toEqual({ rejected: [], inserts: 1 });
    expect(t.stored).toHaveLength(1_000);
  });

  it('stores every good row and returns each bad one with its own error', async () => {
    const bad = new Set([0, 417, 418, 999]);
    const t = fakeTable(bad);
    const r = await insertIsolatingPoison(range(1_000), t.insert);
    expect(r.rejected.map((x) => [x.index, x.row])).toEqual([...bad].map((b) => [b, b]));
    for (const x of r.rejected) {
      expect(x.error.message).toContain(`Cannot parse row ${x.row}`);
      expect((x.error as { code?: number }).code).toBe(25);
    }
    expect([...t.stored].sort((a, b) => a - b)).toEqual(range(1_000).filter((i) => !bad.has(i)));
    // Bisection, not one insert per row.
    expect(r.inserts).toBeLessThan(4 * 2 * Math.ceil(Math.log2(1_000)) + 1);
  });

  it('rejects a lone row and every row of an all-bad batch', async () => {
    const one = fakeTable(new Set([0]), 27);
    expect((await insertIsolatingPoison([0], one.insert)).rejected).toHaveLength(1);
    const all = fakeTable(new Set(range(8)), 53);
    const r = await insertIsolatingPoison(range(8), all.insert);
    expect(r.rejected.map((x) => x.index)).toEqual(range(8));
    expect(all.stored).toEqual([]);
  });

  it('throws failures that are not the rows’ fault, without splitting', async () => {
    for (const message of [
      'connect ECONNREFUSED 127.0.0.1:18123',
      'Code: 252, e.displayText() = DB::Exception: Too many parts (300)',
      "Code: 60, e.displayText() = DB::Exception: Table mmctr.events doesn't exist.",
    ]) {
      const calls: number[] = [];
      const insert = async (rows: readonly number[]) => {
        calls.push(rows.length);
        throw new Error(message);
      };
      await expect(insertIsolatingPoison(range(10), insert)).rejects.toThrow(message);
      expect(calls).toEqual([10]);
    }
  });

  it('rethrows a transient failure met halfway through a bisection', async () => {
    let n = 0;
    const insert = async (rows: readonly number[]) => {
      n++;
      if (rows.includes(3)) throw new Error('Code: 25, e.displayText() = DB::Exception: bad escape');
      if (n === 3) throw new Error('socket hang up');
    };
    await expect(insertIsolatingPoison(range(8), insert)).rejects.toThrow('socket hang up');
  });

  it('treats encoding errors as the row’s fault', async () => {
    const insert = async (rows: readonly number[]) => {
      if (rows.includes(2)) throw new RowEncodingError('UInt16 out of range: 70000');
    };
    const r = await insertIsolatingPoison(range(4), insert);
    expect(r.rejected.map((x) => [x.index, x.error.message])).toEqual([[2, 'UInt16 out of range: 70000']]);
  });
});

describe('isRowDataError', () => {
  it('splits data errors from server, network and schema errors', () => {
    const code = (c: number) => new Error(`Code: ${c}, e.displayText() = DB::Exception: x`);
    for (const c of [6, 25, 26, 27, 53, 72, 117]) expect(isRowDataError(code(c))).toBe(true);
    for (const c of [60, 81, 16, 159, 209, 210, 241, 252]) expect(isRowDataError(code(c))).toBe(false);
    expect(isRowDataError(new Error('read ECONNRESET'))).toBe(false);
    expect(isRowDataError(parseClickHouseError(code(25)))).toBe(true);
  });
});
