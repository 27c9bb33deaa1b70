import { PerformanceObserver, constants, type NodeGCPerformanceDetail } from 'node:perf_hooks';
import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Gauge } from 'prom-client';
import { appMetrics, metricsOn, type MetricTable } from '@mmctr/observability';

const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1,
];

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

const SCORER_METRICS = {
  requestSeconds: {
    type: 'histogram',
    name: 'mmctr_scorer_request_duration_seconds',
    help: 'POST /v1/score handling time, by the HTTP status sent (rejections before the handler included)',
    labels: ['status'],
    buckets: LATENCY_BUCKETS,
  },
  stageSeconds: {
    type: 'histogram',
    name: 'mmctr_scorer_stage_duration_seconds',
    help: 'Time per scoring stage (history, items, encode, inference)',
    labels: ['stage'],
    buckets: LATENCY_BUCKETS,
  },
  inferenceSeconds: {
    type: 'histogram',
    name: 'mmctr_scorer_inference_duration_seconds',
    help: 'session.run time by model role (production, shadow)',
    labels: ['role'],
    buckets: LATENCY_BUCKETS,
  },
  batchSize: {
    type: 'histogram',
    name: 'mmctr_scorer_batch_candidates',
    help: 'Candidates per scored request',
    buckets: [1, 10, 50, 100, 200, 500, 1000, 2000, 5000],
  },
  microBatchRequests: {
    type: 'histogram',
    name: 'mmctr_scorer_micro_batch_requests',
    help: 'Requests per session run when micro-batching is on',
    buckets: [1, 2, 4, 8, 16, 32, 64],
  },
  historyLength: {
    type: 'histogram',
    name: 'mmctr_scorer_history_length',
    help: 'History items used per request',
    buckets: [0, 1, 4, 16, 32, 64, 128],
  },
  itemLookups: {
    type: 'counter',
    name: 'mmctr_scorer_item_lookups_total',
    help: 'Item lookups by result: hit (in-process cache), redis (fetched on a miss), unknown (OOV)',
    labels: ['result'],
  },
  oovItems: {
    type: 'counter',
    name: 'mmctr_scorer_oov_items_total',
    help: 'Items scored with out-of-vocabulary features (no category/tags, zero vector)',
  },
  aggregateSums: {
    type: 'counter',
    name: 'mmctr_scorer_aggregate_sums_total',
    help: "Aggregate window sums (one per key value and bucket tier) requests used, by source: cache (valid until the tier's next bucket boundary) or redis",
    labels: ['source'],
  },
  degraded: {
    type: 'counter',
    name: 'mmctr_scorer_degraded_responses_total',
    help: 'Responses flagged degraded, by cause',
    labels: ['reason'],
  },
  nonFinite: {
    type: 'counter',
    name: 'mmctr_scorer_non_finite_responses_total',
    help: 'Responses whose model answered a non-finite CTR, by what answered instead (model: the fallback version, prior: SCORER_PRIOR_CTR)',
    labels: ['fallback'],
  },
  modelInfo: {
    type: 'gauge',
    name: 'mmctr_scorer_model_info',
    help: '1 for the model version loaded in each role (production, shadow, fallback)',
    labels: ['role', 'version'],
  },
  modelLoads: {
    type: 'counter',
    name: 'mmctr_scorer_model_loads_total',
    help: 'Model version loads by result (ok, failed to load, rejected: non-finite CTR at warm-up, incompatible: features the running feature repository cannot supply)',
    labels: ['result'],
  },
  itemCacheRows: {
    type: 'gauge',
    name: 'mmctr_scorer_item_cache_rows',
    help: 'Items held in the in-process columnar cache',
  },
  itemCacheRefreshes: {
    type: 'counter',
    name: 'mmctr_scorer_item_cache_refreshes_total',
    help: 'Item cache refreshes by result',
    labels: ['result'],
  },
  itemCacheReconciles: {
    type: 'counter',
    name: 'mmctr_scorer_item_cache_reconciles_total',
    help: 'Item cache reconciles (per-bucket digests of rows behind the refresh overlaps) by result',
    labels: ['result'],
  },
  itemCacheRereadBuckets: {
    type: 'counter',
    name: 'mmctr_scorer_item_cache_reread_buckets_total',
    help: 'Buckets of item rows (items) or vectors (vectors) a reconcile read again because their digest changed',
    labels: ['kind'],
  },
  scoreLogs: {
    type: 'counter',
    name: 'mmctr_scorer_score_log_records_total',
    help: 'Score log records by result (produced, dropped, invalid, failed)',
    labels: ['result'],
  },
  sinkRows: {
    type: 'counter',
    name: 'mmctr_scorer_score_log_sink_rows_total',
    help: 'score_log rows inserted by the sink, or skipped as invalid',
    labels: ['result'],
  },
  sinkInsertSeconds: {
    type: 'histogram',
    name: 'mmctr_scorer_score_log_sink_insert_duration_seconds',
    help: 'Duration of a score_log insert',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  },
  shed: {
    type: 'counter',
    name: 'mmctr_scorer_shed_requests_total',
    help: 'POST /v1/score answered 503 by admission control, by reason: before any work (expired, queue_full, predicted_late) or after admission, when the deadline passed during the work (deadline_exceeded)',
    labels: ['reason'],
  },
  abandoned: {
    type: 'counter',
    name: 'mmctr_scorer_deadline_exceeded_requests_total',
    help: 'The deadline_exceeded 503s by where the work stopped: before_inference (the run was saved) or after_inference (it was spent)',
    labels: ['at'],
  },
  late: {
    type: 'counter',
    name: 'mmctr_scorer_late_responses_total',
    help: 'Scored answers (200) sent after their deadline',
  },
  admitted: {
    type: 'gauge',
    name: 'mmctr_scorer_admission_in_flight',
    help: 'POST /v1/score requests admitted and not yet answered (bounded by SCORER_MAX_QUEUE)',
  },
  // Finer than prom-client's nodejs_gc_duration_seconds: scavenges take well under a millisecond.
  aggregateWarmupItems: {
    type: 'gauge',
    name: 'mmctr_scorer_aggregate_warmup_items',
    help: 'Items whose candidate-keyed aggregate windows the start-up warm-up read, by how they were picked (scored: most scored in SCORER_AGGREGATE_WARM_LOOKBACK_MIN; cache: item cache order)',
    labels: ['picked'],
  },
  aggregateWarmupSeconds: {
    type: 'gauge',
    name: 'mmctr_scorer_aggregate_warmup_seconds',
    help: 'Time the start-up aggregate warm-up took, ranking included (it delays listening)',
  },
  gcPauseSeconds: {
    type: 'histogram',
    name: 'mmctr_scorer_gc_pause_seconds',
    help: 'Garbage-collection pauses of the scorer process by kind (perf_hooks gc entries)',
    labels: ['kind'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
  },
} as const satisfies MetricTable;

/** The scorer's Prometheus metrics, on a registry of its own. */
@Injectable()
export class ScorerMetrics extends appMetrics(SCORER_METRICS) implements OnModuleDestroy {
  private gcPauseMs = 0;
  private aggregateKept: () => number = () => 0;
  // Read at scrape time: counting walks every cache entry, too much for each request.
  readonly aggregateKeptBytes: Gauge = metricsOn(this.registry).gauge(
    'mmctr_scorer_aggregate_cache_kept_bytes',
    'Bytes of bucket values the aggregate cache keeps to roll windows forward (SCORER_AGGREGATE_ROLL_MAX_VALUES)',
    [],
    (): void => this.aggregateKeptBytes.set(this.aggregateKept()),
  );
  private readonly gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const { detail } = entry as PerformanceEntry & { detail?: NodeGCPerformanceDetail };
      const kind = GC_KINDS[detail?.kind ?? -1] ?? 'other';
      this.gcPauseSeconds.observe({ kind }, entry.duration / 1000);
      this.gcPauseMs += entry.duration;
    }
  });

  /** Where the aggregate cache's kept bytes are read at scrape time. */
  watchAggregateCache(keptBytes: () => number): void {
    this.aggregateKept = keptBytes;
  }

  /** Every GC pause of this process so far, in ms, as observed (entries arrive after the pause). */
  get gcPauseTotalMs(): number {
    return this.gcPauseMs;
  }

  constructor() {
    super();
    this.gcObserver.observe({ entryTypes: ['gc'] });
    // Summed over the scorer processes in multi-process mode, except these states (each process holds
    // the same, or for the warm-up the slowest start counts): the aggregate shows the value, not the
    // value times the processes.
    for (const state of [this.modelInfo, this.itemCacheRows, this.aggregateWarmupSeconds])
      Object.assign(state, { aggregator: 'max' });
  }

  onModuleDestroy(): void {
    this.gcObserver.disconnect();
  }
}
