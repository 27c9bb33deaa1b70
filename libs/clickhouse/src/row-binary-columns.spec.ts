import { RowBinaryWriter } from './row-binary';
import { columnPut, enumValues, rowBinaryEncoder } from './row-binary-columns';

interface Row {
  id: string;
  vec: ArrayLike<number>;
  tags: string[];
  kind: string;
  n: number;
  at: number;
}

describe('RowBinary by column type', () => {
  it('writes each column by its type, in the order given, as the writer would by hand', () => {
    const enc = rowBinaryEncoder<Row>('t', [
      ['id', 'LowCardinality(String)'],
      ['vec', 'Array(Float32)'],
      ['tags', 'Array(String)'],
      ['kind', "Enum8('a' = 1, 'b' = 2)"],
      ['n', 'UInt64'],
      ['at', 'DateTime'],
    ]);
    const rows: Row[] = [
      { id: 'x', vec: Float32Array.of(0.5, -1), tags: ['p', 'q'], kind: 'b', n: 2 ** 40, at: 1_700_000_000 },
      { id: '', vec: [], tags: [], kind: 'a', n: 0, at: 0 },
    ];
    const hand = new RowBinaryWriter(64);
    for (const r of rows) {
      hand
        .string(r.id)
        .float32Array(r.vec)
        .stringArray(r.tags)
        .int8(r.kind === 'a' ? 1 : 2)
        .uint64(r.n)
        .dateTime(r.at);
    }
    expect(enc.table).toBe('t');
    expect(enc.columns).toEqual(['id', 'vec', 'tags', 'kind', 'n', 'at']);
    expect(enc.encode(rows).equals(hand.bytes())).toBe(true);
  });

  it('refuses a type it cannot write, naming the column, and a value outside an enum', () => {
    expect(() => rowBinaryEncoder<{ m: unknown }>('t', [['m', 'Map(String, String)']])).toThrow(
      /t\.m: column type Map\(String, String\) is not supported/,
    );
    const [put] = columnPut("Enum8('a' = 1)")!;
    expect(() => put(new RowBinaryWriter(8), 'z')).toThrow(RangeError);
  });

  it("gives each type's zero, an Enum8's first value", () => {
    expect(columnPut('FixedString(4)')![1]).toBe('');
    expect(columnPut('Array(Float32)')![1]).toEqual([]);
    expect(columnPut("Enum8('b' = 2, 'a' = 1)")![1]).toBe('b');
    expect([...enumValues("Enum8('a' = 1, 'it\\'s' = 2)")]).toEqual([
      ['a', 1],
      ["it's", 2],
    ]);
  });
});
