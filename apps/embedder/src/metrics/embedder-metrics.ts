import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

type JobCounts = () => Promise<Record<string, number>>;

/** The embedder's Prometheus metrics, on a registry of its own. */
export class EmbedderMetrics {
  readonly registry = new Registry();
  private jobCounts: JobCounts | null = null;
  /** Completion times (ms) of the last minute, for items/s. */
  private recent: number[] = [];

  readonly queueJobs: Gauge<'state'> = new Gauge({
    name: 'mmctr_embedder_queue_jobs',
    help: 'Jobs in the item-embeddings queue by state (read at scrape time)',
    labelNames: ['state'] as const,
    registers: [this.registry],
    collect: async (): Promise<void> => {
      if (!this.jobCounts) return;
      const counts = await this.jobCounts().catch(() => null);
      if (!counts) return;
      for (const [state, n] of Object.entries(counts)) this.queueJobs.set({ state }, n);
    },
  });
  readonly items = new Counter({
    name: 'mmctr_embedder_items_total',
    help: 'Jobs finished, by outcome (stored, stale, failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly itemsPerSecond: Gauge = new Gauge({
    name: 'mmctr_embedder_items_per_second',
    help: 'Items stored per second over the last minute',
    registers: [this.registry],
    collect: (): void => this.itemsPerSecond.set(this.rate()),
  });
  readonly failures = new Counter({
    name: 'mmctr_embedder_failures_total',
    help: 'Failed attempts by reason; final="true" when the job will not be retried',
    labelNames: ['reason', 'final'] as const,
    registers: [this.registry],
  });
  readonly jobSeconds = new Histogram({
    name: 'mmctr_embedder_job_duration_seconds',
    help: 'Processing time of one job attempt (load, decode, encode, store)',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });
  readonly endToEndSeconds = new Histogram({
    name: 'mmctr_embedder_end_to_end_seconds',
    help: 'From enqueue to stored embedding',
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800],
    registers: [this.registry],
  });
  readonly batchSeconds = new Histogram({
    name: 'mmctr_embedder_inference_batch_seconds',
    help: 'Inference time of one batch',
    labelNames: ['encoder'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'mmctr_embedder_inference_batch_size',
    help: 'Items per inference batch',
    labelNames: ['encoder'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'mmctr_embedder_' });
  }

  watchQueue(counts: JobCounts): void {
    this.jobCounts = counts;
  }

  stored(now = Date.now()): void {
    this.items.inc({ outcome: 'stored' });
    this.recent.push(now);
    if (this.recent.length > 100_000) this.recent.splice(0, this.recent.length - 100_000);
  }

  rate(now = Date.now()): number {
    const from = now - 60_000;
    let i = 0;
    while (i < this.recent.length && this.recent[i]! < from) i++;
    if (i > 0) this.recent.splice(0, i);
    return this.recent.length / 60;
  }
}
