import type { ClickHouseService, RowBinaryEncoder } from '@mmctr/clickhouse';
import { transient } from '../errors';
import { WriteBatcher } from './write-batcher';

/** How long and how many rows a batched insert gathers before it writes. */
export interface BatchOptions {
  maxRows?: number;
  maxWaitMs?: number;
}

/**
 * RowBinary inserts of one table, with the rows of concurrent jobs gathered into one insert
 * (WriteBatcher). A failed insert is a transient `storage_failed` error, so the jobs retry.
 */
export class BatchedInsert<T> {
  private readonly batcher: WriteBatcher<T>;

  constructor(
    private readonly clickhouse: ClickHouseService,
    private readonly rows: RowBinaryEncoder<T>,
    opts: BatchOptions = {},
  ) {
    this.batcher = new WriteBatcher(
      async (rows) => {
        try {
          await this.insert(rows);
        } catch (err) {
          throw transient('storage_failed', `${this.rows.table} insert: ${(err as Error).message}`);
        }
      },
      opts.maxRows ?? 500,
      opts.maxWaitMs ?? 100,
    );
  }

  /** Resolves once the row is in ClickHouse; `flushNow` sends the pending rows without waiting for more. */
  add(row: T, flushNow = false): Promise<void> {
    return this.batcher.add(row, flushNow);
  }

  /** One insert of these rows now, not batched. */
  insert(rows: readonly T[]): Promise<void> {
    return this.clickhouse.insertRowBinary(this.rows.table, this.rows.columns, this.rows.encode(rows));
  }

  flush(): Promise<void> {
    return this.batcher.flush();
  }
}

/**
 * A repository that writes one table's rows through a BatchedInsert; subclasses add their reads over
 * `clickhouse`.
 */
export abstract class BatchedInsertRepository<T> {
  protected readonly inserts: BatchedInsert<T>;

  protected constructor(
    protected readonly clickhouse: ClickHouseService,
    rows: RowBinaryEncoder<T>,
    opts: BatchOptions,
  ) {
    this.inserts = new BatchedInsert(clickhouse, rows, opts);
  }

  /**
   * Resolves once the row is in ClickHouse (rows of concurrent callers share one insert). `flushNow`
   * sends the pending rows without waiting for more.
   */
  store(row: T, flushNow = false): Promise<void> {
    return this.inserts.add(row, flushNow);
  }

  flush(): Promise<void> {
    return this.inserts.flush();
  }
}
