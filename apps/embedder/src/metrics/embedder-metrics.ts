import { type Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { metricsOn } from '@mmctr/observability';

type JobCounts = () => Promise<Record<string, number>>;

/** The embedder's Prometheus metrics, on a registry of its own. */
export class EmbedderMetrics {
  readonly registry = new Registry();
  private readonly m = metricsOn(this.registry);
  private jobCounts: JobCounts | null = null;
  /** Completion times (ms) of the last minute, for items/s. */
  private recent: number[] = [];

  readonly queueJobs: Gauge<'state'> = this.m.gauge(
    'mmctr_embedder_queue_jobs',
    'Jobs in the item-embeddings queue by state (read at scrape time)',
    ['state'],
    async (): Promise<void> => {
      if (!this.jobCounts) return;
      const counts = await this.jobCounts().catch(() => null);
      if (!counts) return;
      for (const [state, n] of Object.entries(counts)) this.queueJobs.set({ state }, n);
    },
  );
  readonly items = this.m.counter(
    'mmctr_embedder_items_total',
    'Jobs finished, by outcome (stored, stale, failed)',
    ['outcome'],
  );
  readonly itemsPerSecond: Gauge = this.m.gauge(
    'mmctr_embedder_items_per_second',
    'Items stored per second over the last minute',
    [],
    (): void => this.itemsPerSecond.set(this.rate()),
  );
  readonly failures = this.m.counter(
    'mmctr_embedder_failures_total',
    'Failed attempts by reason; final="true" when the job will not be retried',
    ['reason', 'final'],
  );
  readonly jobSeconds = this.m.histogram(
    'mmctr_embedder_job_duration_seconds',
    'Processing time of one job attempt (load, decode, encode, store)',
    [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
  );
  readonly endToEndSeconds = this.m.histogram(
    'mmctr_embedder_end_to_end_seconds',
    'From enqueue to stored embedding',
    [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800],
  );
  readonly batchSeconds = this.m.histogram(
    'mmctr_embedder_inference_batch_seconds',
    'Inference time of one batch',
    [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    ['encoder'],
  );
  readonly batchSize = this.m.histogram(
    'mmctr_embedder_inference_batch_size',
    'Items per inference batch',
    [1, 2, 4, 8, 16, 32, 64, 128],
    ['encoder'],
  );

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
