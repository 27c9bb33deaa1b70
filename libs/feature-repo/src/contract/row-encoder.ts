import { RowBinaryWriter } from '@mmctr/clickhouse';
import type { TableColumn } from '../storage/table-columns';
import type { NormalisedRecord } from './record-fields';

/** A value computed for a column instead of read from the record (`nowS`: the insert's ingested_at). */
export type ComputedColumn = (r: NormalisedRecord, nowS: number) => unknown;

type Put = (w: RowBinaryWriter, v: unknown) => void;

/** Encodes records as RowBinary rows of a table, every column in table order. */
export interface RowEncoder {
  readonly table: string;
  readonly columns: readonly string[];
  encode(records: readonly NormalisedRecord[], nowS: number): Buffer;
}

/** `Enum8('a' = 1, 'b' = 2)` -> name -> code. */
export function enumValues(type: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of type.matchAll(/'((?:[^'\\]|\\.)*)'\s*=\s*(-?\d+)/g))
    out.set(m[1]!.replace(/\\(.)/g, '$1'), Number(m[2]));
  return out;
}

function enumPut(type: string): [Put, unknown] {
  const codes = enumValues(type);
  const put: Put = (w, v) => {
    const code = codes.get(v as string);
    if (code === undefined) throw new RangeError(`${JSON.stringify(v)} is not a value of ${type}`);
    w.int8(code);
  };
  return [put, codes.keys().next().value];
}

const num = (v: unknown): number => (v === true ? 1 : v === false ? 0 : (v as number));

const SCALAR: Record<string, [Put, unknown]> = {
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
};

/** How a column of this ClickHouse type is written, and its type's zero; undefined when unsupported. */
function putFor(type: string): [Put, unknown] | undefined {
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

/**
 * Compiles a RowBinary encoder for a table's ACTUAL columns (system.columns): each column is written
 * by its ClickHouse type, its value `computed[name]` or the record's field of that name. A column the
 * record lacks (one its event type does not declare, or a bookkeeping column nobody fills) gets its
 * type's zero: '' / 0 / [] / an Enum8's first value. Out-of-range values throw RangeError (the row's
 * fault, see RowEncodingError).
 */
export function compileRowEncoder(
  table: string,
  columns: readonly TableColumn[],
  computed: Readonly<Record<string, ComputedColumn>> = {},
): RowEncoder {
  const writers = columns.map((c) => {
    const p = putFor(c.type);
    if (!p) throw new Error(`${table}.${c.name}: column type ${c.type} is not supported by ingest`);
    const [put, zero] = p;
    const compute = computed[c.name];
    if (compute) return (w: RowBinaryWriter, r: NormalisedRecord, nowS: number) => put(w, compute(r, nowS));
    const name = c.name;
    return (w: RowBinaryWriter, r: NormalisedRecord) => {
      const v = r[name];
      put(w, v === undefined ? zero : v);
    };
  });
  const n = writers.length;
  return {
    table,
    columns: columns.map((c) => c.name),
    encode(records, nowS) {
      const w = new RowBinaryWriter(Math.max(1024, records.length * 16 * n));
      for (const r of records) for (let i = 0; i < n; i++) writers[i]!(w, r, nowS);
      return w.bytes();
    },
  };
}
