export interface BatcherOptions {
  /** Flush once this many rows are pending. */
  maxRows: number;
  /** Flush at the latest this long after the oldest pending row arrived. */
  maxWaitMs: number;
  /** add() waits while this many rows are pending (back-pressure on the consumer). */
  maxPendingRows: number;
  /** Stores that may run at once (default 1); commits still run one at a time, in flush order. */
  maxConcurrentFlushes?: number;
}

interface Pending<T> {
  item: T;
  rows: number;
  at: number;
}

/** Stores one flush; may run concurrently with other flushes' stores. */
export type StoreFn<T, R> = (items: T[], rows: number) => Promise<R>;
/** Runs after this flush's store and after every earlier flush's commit (offsets go forward only). */
export type CommitFn<T, R> = (items: T[], stored: R) => Promise<void>;

/**
 * Accumulates items (each weighing some rows) and hands them to `store` in groups bounded by rows and
 * by time. Up to `maxConcurrentFlushes` stores overlap (a ClickHouse insert waits on the server, so
 * one at a time leaves the process idle), but `commit` runs strictly in flush order and only while no
 * earlier flush has failed, so whatever a commit covers is stored. Failures that reach the batcher
 * are fatal: the store function retries transient ones itself.
 */
export class Batcher<T, R = void> {
  private queue: Pending<T>[] = [];
  private queuedRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private commitTail: Promise<void> = Promise.resolve();
  private readonly capacityWaiters: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private lastError: Error | undefined;
  private readonly maxConcurrent: number;

  constructor(
    private readonly opts: BatcherOptions,
    private readonly store: StoreFn<T, R>,
    private readonly commit: CommitFn<T, R> = async () => undefined,
  ) {
    this.maxConcurrent = Math.max(1, opts.maxConcurrentFlushes ?? 1);
  }

  get pendingRows(): number {
    return this.queuedRows;
  }

  /** Something is queued or being stored (not yet committed). */
  get busy(): boolean {
    return this.queue.length > 0 || this.inFlight > 0;
  }

  /** Queues an item; resolves when there is room again (not when it is flushed). */
  async add(item: T, rows: number): Promise<void> {
    this.queue.push({ item, rows, at: Date.now() });
    this.queuedRows += rows;
    if (this.queuedRows >= this.opts.maxRows) this.kick();
    else this.schedule();
    while (this.queuedRows >= this.opts.maxPendingRows) {
      await new Promise<void>((resolve) => this.capacityWaiters.push(resolve));
    }
  }

  /** Flushes everything queued so far and resolves when it is stored and committed. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight > 0) {
      this.kick();
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    if (this.lastError) throw this.lastError;
  }

  /** Arms the timer for the oldest pending item's deadline (time already spent queued counts). */
  private schedule(): void {
    const oldest = this.queue[0];
    // With every slot busy, the flush that ends next reschedules (a past deadline would spin here).
    if (this.timer || !oldest || this.inFlight >= this.maxConcurrent) return;
    const wait = Math.max(0, oldest.at + this.opts.maxWaitMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, wait);
  }

  private kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inFlight < this.maxConcurrent && this.queue.length > 0) this.start(this.take());
    if (this.queue.length > 0 && this.queuedRows < this.opts.maxRows) this.schedule();
  }

  /** Takes whole items up to maxRows (at least one), oldest first. */
  private take(): { items: T[]; rows: number } {
    let rows = 0;
    let n = 0;
    while (n < this.queue.length && (n === 0 || rows + this.queue[n]!.rows <= this.opts.maxRows)) {
      rows += this.queue[n]!.rows;
      n++;
    }
    const taken = this.queue.splice(0, n);
    this.queuedRows -= rows;
    for (const w of this.capacityWaiters.splice(0)) w();
    return { items: taken.map((p) => p.item), rows };
  }

  private start(batch: { items: T[]; rows: number }): void {
    this.inFlight++;
    const earlierCommits = this.commitTail;
    let committed!: () => void;
    this.commitTail = new Promise<void>((resolve) => (committed = resolve));
    void this.run(batch, earlierCommits).finally(() => {
      committed();
      this.inFlight--;
      this.afterFlush();
    });
  }

  private async run(batch: { items: T[]; rows: number }, earlierCommits: Promise<void>): Promise<void> {
    try {
      // After a fatal failure nothing later may be stored or committed: a commit would skip the
      // failed items.
      if (this.lastError) return;
      const stored = await this.store(batch.items, batch.rows);
      await earlierCommits;
      if (this.lastError) return;
      await this.commit(batch.items, stored);
    } catch (err) {
      // Never committed, so redelivered after a restart.
      this.lastError ??= err instanceof Error ? err : new Error(String(err));
    }
  }

  private afterFlush(): void {
    if (this.queuedRows >= this.opts.maxRows) this.kick();
    else this.schedule();
    if (this.inFlight === 0 && (this.queue.length === 0 || this.lastError)) {
      for (const w of this.idleWaiters.splice(0)) w();
    } else if (this.queue.length > 0 && this.inFlight < this.maxConcurrent) {
      // drain() is waiting for everything: flush the remainder now rather than at its deadline.
      if (this.idleWaiters.length > 0) this.kick();
    }
  }
}
