import { PerformanceObserver, constants, type NodeGCPerformanceDetail } from 'node:perf_hooks';
import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { metricsOn } from '@mmctr/observability';

const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1,
];

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** The scorer's Prometheus metrics, on a registry of its own. */
@Injectable()
export class ScorerMetrics implements OnModuleDestroy {
  readonly registry = new Registry();
  private readonly m = metricsOn(this.registry);

  readonly requestSeconds = this.m.histogram(
    'mmctr_scorer_request_duration_seconds',
    'POST /v1/score handling time, by the HTTP status sent (rejections before the handler included)',
    LATENCY_BUCKETS,
    ['status'],
  );
  readonly stageSeconds = this.m.histogram(
    'mmctr_scorer_stage_duration_seconds',
    'Time per scoring stage (history, items, encode, inference)',
    LATENCY_BUCKETS,
    ['stage'],
  );
  readonly inferenceSeconds = this.m.histogram(
    'mmctr_scorer_inference_duration_seconds',
    'session.run time by model role (production, shadow)',
    LATENCY_BUCKETS,
    ['role'],
  );
  readonly batchSize = this.m.histogram(
    'mmctr_scorer_batch_candidates',
    'Candidates per scored request',
    [1, 10, 50, 100, 200, 500, 1000, 2000, 5000],
  );
  readonly microBatchRequests = this.m.histogram(
    'mmctr_scorer_micro_batch_requests',
    'Requests per session run when micro-batching is on',
    [1, 2, 4, 8, 16, 32, 64],
  );
  readonly historyLength = this.m.histogram(
    'mmctr_scorer_history_length',
    'History items used per request',
    [0, 1, 4, 16, 32, 64, 128],
  );
  readonly itemLookups = this.m.counter(
    'mmctr_scorer_item_lookups_total',
    'Item lookups by result: hit (in-process cache), redis (fetched on a miss), unknown (OOV)',
    ['result'],
  );
  readonly oovItems = this.m.counter(
    'mmctr_scorer_oov_items_total',
    'Items scored with out-of-vocabulary features (no category/tags, zero vector)',
  );
  readonly degraded = this.m.counter(
    'mmctr_scorer_degraded_responses_total',
    'Responses flagged degraded, by cause',
    ['reason'],
  );
  readonly nonFinite = this.m.counter(
    'mmctr_scorer_non_finite_responses_total',
    'Responses whose model answered a non-finite CTR, by what answered instead (model: the fallback version, prior: SCORER_PRIOR_CTR)',
    ['fallback'],
  );
  readonly modelInfo = this.m.gauge(
    'mmctr_scorer_model_info',
    '1 for the model version loaded in each role (production, shadow, fallback)',
    ['role', 'version'],
  );
  readonly modelLoads = this.m.counter(
    'mmctr_scorer_model_loads_total',
    'Model version loads by result (ok, failed to load, rejected: non-finite CTR at warm-up)',
    ['result'],
  );
  readonly itemCacheRows = this.m.gauge(
    'mmctr_scorer_item_cache_rows',
    'Items held in the in-process columnar cache',
  );
  readonly itemCacheRefreshes = this.m.counter(
    'mmctr_scorer_item_cache_refreshes_total',
    'Item cache refreshes by result',
    ['result'],
  );
  readonly scoreLogs = this.m.counter(
    'mmctr_scorer_score_log_records_total',
    'Score log records by result (produced, dropped, invalid, failed)',
    ['result'],
  );
  readonly sinkRows = this.m.counter(
    'mmctr_scorer_score_log_sink_rows_total',
    'score_log rows inserted by the sink, or skipped as invalid',
    ['result'],
  );
  readonly sinkInsertSeconds = this.m.histogram(
    'mmctr_scorer_score_log_sink_insert_duration_seconds',
    'Duration of a score_log insert',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );

  readonly shed = this.m.counter(
    'mmctr_scorer_shed_requests_total',
    'POST /v1/score answered 503 by admission control before any work, by reason (expired, queue_full, predicted_late)',
    ['reason'],
  );
  readonly late = this.m.counter(
    'mmctr_scorer_late_responses_total',
    'Scored answers (200) sent after their deadline',
  );
  readonly admitted = this.m.gauge(
    'mmctr_scorer_admission_in_flight',
    'POST /v1/score requests admitted and not yet answered (bounded by SCORER_MAX_QUEUE)',
  );
  // Finer than prom-client's nodejs_gc_duration_seconds: scavenges take well under a millisecond.
  readonly gcPauseSeconds = this.m.histogram(
    'mmctr_scorer_gc_pause_seconds',
    'Garbage-collection pauses of the scorer process by kind (perf_hooks gc entries)',
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    ['kind'],
  );
  private readonly gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const { detail } = entry as PerformanceEntry & { detail?: NodeGCPerformanceDetail };
      const kind = GC_KINDS[detail?.kind ?? -1] ?? 'other';
      this.gcPauseSeconds.observe({ kind }, entry.duration / 1000);
    }
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.gcObserver.observe({ entryTypes: ['gc'] });
  }

  onModuleDestroy(): void {
    this.gcObserver.disconnect();
  }
}
