// Micro-batching across concurrent requests (optional, meant for the GPU): requests that reach a model
// within a short window share one session.run. A lone request waits the window and then runs alone.

export interface BatchJob {
  /** Candidates of this request: its share of the batched output. */
  readonly batch: number;
}

export interface MicroBatchOptions {
  /**
   * How long the first request of a batch waits for others; 0: only for the requests that reach the
   * model in the same turn of the event loop (no timer, a setImmediate).
   */
  windowMs: number;
  /** A batch runs as soon as it holds this many candidates. */
  maxCandidates: number;
}

interface Pending<J> {
  job: J;
  resolve: (ctr: Float32Array) => void;
  reject: (err: unknown) => void;
}

export class MicroBatcher<J extends BatchJob> {
  private pending: Pending<J>[] = [];
  private candidates = 0;
  /** Cancels the pending flush of the open batch, if any. */
  private cancelFlush: (() => void) | undefined;

  constructor(
    private readonly options: MicroBatchOptions,
    /** One request alone: the ordinary serving graph. */
    private readonly runOne: (job: J) => Promise<Float32Array>,
    /** Several requests: one run whose output holds their candidates in job order. */
    private readonly runMany: (jobs: J[]) => Promise<Float32Array>,
    private readonly onFlush?: (requests: number, candidates: number) => void,
  ) {}

  run(job: J): Promise<Float32Array> {
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.push({ job, resolve, reject });
      this.candidates += job.batch;
      if (this.candidates >= this.options.maxCandidates) this.flush();
      else this.cancelFlush ??= this.scheduleFlush();
    });
  }

  private scheduleFlush(): () => void {
    if (this.options.windowMs > 0) {
      const timer = setTimeout(() => this.flush(), this.options.windowMs);
      return () => clearTimeout(timer);
    }
    const immediate = setImmediate(() => this.flush());
    return () => clearImmediate(immediate);
  }

  private flush(): void {
    this.cancelFlush?.();
    this.cancelFlush = undefined;
    const batch = this.pending;
    const candidates = this.candidates;
    this.pending = [];
    this.candidates = 0;
    if (batch.length === 0) return;
    this.onFlush?.(batch.length, candidates);
    const single = batch.length === 1;
    const run = single ? this.runOne(batch[0]!.job) : this.runMany(batch.map((p) => p.job));
    run.then(
      (ctr) => {
        if (ctr.length !== candidates) {
          const err = new Error(`micro-batch returned ${ctr.length} CTRs for ${candidates} candidates`);
          for (const p of batch) p.reject(err);
          return;
        }
        let offset = 0;
        for (const p of batch) {
          p.resolve(single ? ctr : ctr.slice(offset, offset + p.job.batch));
          offset += p.job.batch;
        }
      },
      (err: unknown) => {
        for (const p of batch) p.reject(err);
      },
    );
  }
}
