import type { Gauge } from 'prom-client';
import { appMetrics, metricsOn, type MetricTable } from '@mmctr/observability';

type JobCounts = () => Promise<Record<string, number>>;

const EMBEDDER_METRICS = {
  items: {
    type: 'counter',
    name: 'mmctr_embedder_items_total',
    help: 'Jobs finished, by outcome (stored, stale, failed)',
    labels: ['outcome'],
  },
  failures: {
    type: 'counter',
    name: 'mmctr_embedder_failures_total',
    help: 'Failed attempts by reason; final="true" when the job will not be retried',
    labels: ['reason', 'final'],
  },
  jobSeconds: {
    type: 'histogram',
    name: 'mmctr_embedder_job_duration_seconds',
    help: 'Processing time of one job attempt (load, decode, encode, store)',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
  },
  endToEndSeconds: {
    type: 'histogram',
    name: 'mmctr_embedder_end_to_end_seconds',
    help: 'From enqueue to stored embedding',
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800],
  },
  batchSeconds: {
    type: 'histogram',
    name: 'mmctr_embedder_inference_batch_seconds',
    help: 'Inference time of one batch',
    labels: ['encoder'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
  },
  batchSize: {
    type: 'histogram',
    name: 'mmctr_embedder_inference_batch_size',
    help: 'Items per inference batch',
    labels: ['encoder'],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
  },
} as const satisfies MetricTable;

/** The embedder's Prometheus metrics, on a registry of its own. */
export class EmbedderMetrics extends appMetrics(EMBEDDER_METRICS, {
  defaultMetricsPrefix: 'mmctr_embedder_',
}) {
  // The gauges read the embedder's own state at scrape time.
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
  readonly itemsPerSecond: Gauge = this.m.gauge(
    'mmctr_embedder_items_per_second',
    'Items stored per second over the last minute',
    [],
    (): void => this.itemsPerSecond.set(this.rate()),
  );

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
