import { RowBinaryWriter } from './row-binary';

/** Writes one value of a column's type. */
export type ColumnPut = (w: RowBinaryWriter, v: unknown) => void;

/** `Enum8('a' = 1, 'b' = 2)` -> name -> code. */
export function enumValues(type: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of type.matchAll(/'((?:[^'\\]|\\.)*)'\s*=\s*(-?\d+)/g))
    out.set(m[1]!.replace(/\\(.)/g, '$1'), Number(m[2]));
  return out;
}

function enumPut(type: string): [ColumnPut, unknown] {
  const codes = enumValues(type);
  const put: ColumnPut = (w, v) => {
    const code = codes.get(v as string);
    if (code === undefined) throw new RangeError(`${JSON.stringify(v)} is not a value of ${type}`);
    w.int8(code);
  };
  return [put, codes.keys().next().value];
}

const num = (v: unknown): number => (v === true ? 1 : v === false ? 0 : (v as number));

const SCALAR: Record<string, [ColumnPut, unknown]> = {
  String: [(w, v) => w.string(v as string), ''],
  UInt8: [(w, v) => w.uint8(num(v)), 0],
  UInt16: [(w, v) => w.uint16(v as number), 0],
  UInt32: [(w, v) => w.uint32(v as number), 0],
  UInt64: [(w, v) => w.uint64(v as number), 0],
  Int8: [(w, v) => w.int8(v as number), 0],
  Int16: [(w, v) => w.int16(v as number), 0],
  Int32: [(w, v) => w.int32(v as number), 0],
  Int64: [(w, v) => w.int64(v as number), 0],
  Float32: [(w, v) => w.float32(v as number), 0],
  Float64: [(w, v) => w.float64(v as number), 0],
  DateTime: [(w, v) => w.dateTime(v as number), 0],
  'Array(String)': [(w, v) => w.stringArray(v as readonly string[]), []],
  // Vectors go as raw float32, not as text the server must parse.
  'Array(Float32)': [(w, v) => w.float32Array(v as ArrayLike<number>), []],
};

/**
 * How a column of this ClickHouse type is written, and its type's zero ('' / 0 / [] / an Enum8's first
 * value); undefined when unsupported.
 */
export function columnPut(type: string): [ColumnPut, unknown] | undefined {
  const scalar = SCALAR[type === 'LowCardinality(String)' ? 'String' : type];
  if (scalar) return scalar;
  if (type.startsWith('Enum8(')) return enumPut(type);
  const fixed = /^FixedString\((\d+)\)$/.exec(type);
  if (fixed) {
    const n = Number(fixed[1]);
    return [(w, v) => w.fixedString(v as string, n), ''];
  }
  return undefined;
}

/** RowBinary rows of a table with fixed columns: the table, its columns in table order, the encoder. */
export interface RowBinaryEncoder<T> {
  readonly table: string;
  readonly columns: readonly (keyof T & string)[];
  encode(rows: readonly T[]): Buffer;
}

/**
 * An encoder of rows whose fields are the table's columns, `[name, ClickHouse type]` in table order;
 * throws naming a column whose type it cannot write.
 */
export function rowBinaryEncoder<T>(
  table: string,
  columns: readonly (readonly [keyof T & string, string])[],
): RowBinaryEncoder<T> {
  const puts = columns.map(([name, type]) => {
    const p = columnPut(type);
    if (!p) throw new Error(`${table}.${name}: column type ${type} is not supported`);
    return p[0];
  });
  const names = columns.map(([name]) => name);
  return {
    table,
    columns: names,
    encode(rows) {
      const w = new RowBinaryWriter(Math.max(1024, rows.length * 64 * names.length));
      for (const r of rows) for (let i = 0; i < names.length; i++) puts[i]!(w, r[names[i]!]);
      return w.bytes();
    },
  };
}
