import { parseClickHouseError, type ClickHouseError } from './clickhouse-error';

/**
 * Error codes caused by the rows of an INSERT, not by the server, the network or the schema: the same
 * rows fail the same way on every retry, so retrying them stalls the writer forever.
 */
export const ROW_DATA_ERROR_CODES: ReadonlySet<number> = new Set([
  6, // CANNOT_PARSE_TEXT
  25, // CANNOT_PARSE_ESCAPE_SEQUENCE (e.g. a lone UTF-16 surrogate in a JSON string)
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED (e.g. 1e+300 for a UInt64)
  32, // ATTEMPT_TO_READ_AFTER_EOF (truncated RowBinary)
  33, // CANNOT_READ_ALL_DATA
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  53, // TYPE_MISMATCH
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA
  128, // TOO_LARGE_ARRAY_SIZE
  130, // CANNOT_READ_ARRAY_FROM_TEXT
  131, // TOO_LARGE_STRING_SIZE
  190, // SIZES_OF_ARRAYS_DOESNT_MATCH
  349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
]);

/** A row the client could not encode for the server (it would fail the same way on every retry). */
export class RowEncodingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RowEncodingError';
  }
}

/**
 * True when an insert failed because of its rows (bisect them, dead-letter the bad ones); false for
 * everything else: network, timeouts, too many parts, memory, a missing table or column. Those are
 * retried with the rows unchanged, since skipping rows would not fix them.
 */
export function isRowDataError(err: unknown): boolean {
  if (err instanceof RowEncodingError) return true;
  const code = parseClickHouseError(err).code;
  return code !== undefined && ROW_DATA_ERROR_CODES.has(code);
}

export interface RejectedRow<T> {
  /** Position in the rows handed to insertIsolatingPoison. */
  index: number;
  row: T;
  /** Why the server (or the encoder) refused this row alone. */
  error: ClickHouseError | RowEncodingError;
}

export interface IsolationResult<T> {
  rejected: RejectedRow<T>[];
  /** INSERT statements sent (1 when nothing was rejected). */
  inserts: number;
}

export interface IsolateOptions {
  /** Which failures are the rows' fault (default isRowDataError). */
  isRowError?: (err: unknown) => boolean;
}

/** Why a row was refused, as a dead letter states it, with the server's error code when there is one. */
export function refusedRowReason(
  table: string,
  rejected: RejectedRow<unknown>,
): { reason: string; code?: number } {
  const err = rejected.error;
  const code = 'code' in err ? err.code : undefined;
  const codeText = code === undefined ? '' : ` (Code ${code})`;
  return { reason: `clickhouse: ${table} insert refused the row${codeText}: ${err.message}`, code };
}

const asRowError = (err: unknown): ClickHouseError | RowEncodingError =>
  err instanceof RowEncodingError ? err : parseClickHouseError(err);

/**
 * Inserts `rows` with `insert`; when the server refuses them for their data, splits them in halves
 * until each refused row stands alone, so every other row is stored and the bad ones are returned
 * with their own error. Any other failure is thrown as it is (the caller retries the whole call;
 * halves already stored are stored again, so the target must be idempotent, e.g. a ReplacingMergeTree).
 * k bad rows among n cost about 2·k·log2(n) inserts.
 */
export async function insertIsolatingPoison<T>(
  rows: readonly T[],
  insert: (rows: readonly T[]) => Promise<void>,
  opts: IsolateOptions = {},
): Promise<IsolationResult<T>> {
  const isRowError = opts.isRowError ?? isRowDataError;
  const result: IsolationResult<T> = { rejected: [], inserts: 0 };
  const run = async (from: number, to: number): Promise<void> => {
    if (from >= to) return;
    try {
      result.inserts++;
      await insert(rows.slice(from, to));
      return;
    } catch (err) {
      if (!isRowError(err)) throw err;
      if (to - from === 1) {
        result.rejected.push({ index: from, row: rows[from]!, error: asRowError(err) });
        return;
      }
    }
    const mid = from + Math.floor((to - from) / 2);
    await run(from, mid);
    await run(mid, to);
  };
  await run(0, rows.length);
  return result;
}
