import { RowBinaryWriter, columnPut } from '@mmctr/clickhouse';
import type { TableColumn } from '../storage/table-columns';
import type { NormalisedRecord } from './record-fields';

/** A value computed for a column instead of read from the record (`nowS`: the insert's ingested_at). */
export type ComputedColumn = (r: NormalisedRecord, nowS: number) => unknown;

/** Encodes records as RowBinary rows of a table, every column in table order. */
export interface RowEncoder {
  readonly table: string;
  readonly columns: readonly string[];
  encode(records: readonly NormalisedRecord[], nowS: number): Buffer;
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
    const p = columnPut(c.type);
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
