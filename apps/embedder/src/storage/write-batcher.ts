/**
 * Gathers rows from many concurrent jobs into one write (ClickHouse wants few, large inserts). Each
 * caller's promise settles with the write that carried its row, so a job completes only once its
 * row is stored.
 */
export class WriteBatcher<T> {
  private rows: T[] = [];
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: (rows: T[]) => Promise<void>,
    private readonly maxRows: number,
    private readonly maxWaitMs: number,
  ) {}

  /** `flushNow`: the caller knows no more rows are coming soon (waiting would only add latency). */
  add(row: T, flushNow = false): Promise<void> {
    return new Promise((resolve, reject) => {
      this.rows.push(row);
      this.waiters.push({ resolve, reject });
      if (flushNow || this.rows.length >= this.maxRows) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), this.maxWaitMs);
    });
  }

  /** Sends what is pending now; resolves when every write so far has settled. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.rows.length > 0) {
      const rows = this.rows;
      const waiters = this.waiters;
      this.rows = [];
      this.waiters = [];
      this.inFlight = this.inFlight.then(() =>
        this.write(rows).then(
          () => waiters.forEach((w) => w.resolve()),
          (err) => waiters.forEach((w) => w.reject(err)),
        ),
      );
    }
    return this.inFlight;
  }
}
