export interface BatcherOptions {
  /** Flush once this many rows are pending. */
  maxRows: number;
  /** Flush at the latest this long after the first pending row arrived. */
  maxWaitMs: number;
  /** add() waits while this many rows are pending (back-pressure on the consumer). */
  maxPendingRows: number;
}

interface Pending<T> {
  item: T;
  rows: number;
}

/**
 * Accumulates items (each weighing some rows) and hands them to `flush` in groups bounded by rows and
 * by time. Flushes run one at a time and in arrival order, so whatever a flush commits covers
 * everything before it. A failing flush is the flush function's business (it retries); the batcher
 * only guarantees order and bounds.
 */
export class Batcher<T> {
  private queue: Pending<T>[] = [];
  private queuedRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly capacityWaiters: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private lastError: Error | undefined;

  constructor(
    private readonly opts: BatcherOptions,
    private readonly flush: (items: T[], rows: number) => Promise<void>,
  ) {}

  get pendingRows(): number {
    return this.queuedRows;
  }

  /** Queues an item; resolves when there is room again (not when it is flushed). */
  async add(item: T, rows: number): Promise<void> {
    this.queue.push({ item, rows });
    this.queuedRows += rows;
    if (this.queuedRows >= this.opts.maxRows) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), this.opts.maxWaitMs);
    while (this.queuedRows >= this.opts.maxPendingRows) {
      await new Promise<void>((resolve) => this.capacityWaiters.push(resolve));
    }
  }

  /** Flushes everything queued so far and resolves when it is stored. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.flushing) {
      this.kick();
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    if (this.lastError) throw this.lastError;
  }

  private kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = this.run().finally(() => {
      this.flushing = undefined;
      if (this.queue.length === 0) {
        for (const w of this.idleWaiters.splice(0)) w();
      } else if (this.queuedRows >= this.opts.maxRows) {
        this.kick();
      } else {
        this.timer ??= setTimeout(() => this.kick(), this.opts.maxWaitMs);
        for (const w of this.idleWaiters.splice(0)) w();
      }
    });
  }

  private async run(): Promise<void> {
    // Take whole items up to maxRows (at least one), oldest first.
    let rows = 0;
    let n = 0;
    while (n < this.queue.length && (n === 0 || rows + this.queue[n]!.rows <= this.opts.maxRows)) {
      rows += this.queue[n]!.rows;
      n++;
    }
    const taken = this.queue.splice(0, n);
    this.queuedRows -= rows;
    for (const w of this.capacityWaiters.splice(0)) w();
    // After a fatal failure nothing later may be flushed: its commit would skip the failed items.
    if (this.lastError) return;
    try {
      await this.flush(
        taken.map((p) => p.item),
        rows,
      );
    } catch (err) {
      // The flush function retries transient failures itself; anything reaching here is fatal for
      // these items, which are then never committed and so get redelivered after a restart.
      this.lastError = err instanceof Error ? err : new Error(String(err));
    }
  }
}
