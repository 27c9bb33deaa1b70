import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1,
];

/** The scorer's Prometheus metrics, on a registry of its own. */
@Injectable()
export class ScorerMetrics {
  readonly registry = new Registry();

  readonly requestSeconds = new Histogram({
    name: 'mmctr_scorer_request_duration_seconds',
    help: 'POST /v1/score handling time, by the HTTP status sent (rejections before the handler included)',
    labelNames: ['status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly stageSeconds = new Histogram({
    name: 'mmctr_scorer_stage_duration_seconds',
    help: 'Time per scoring stage (history, items, encode, inference)',
    labelNames: ['stage'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly inferenceSeconds = new Histogram({
    name: 'mmctr_scorer_inference_duration_seconds',
    help: 'session.run time by model role (production, shadow)',
    labelNames: ['role'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'mmctr_scorer_batch_candidates',
    help: 'Candidates per scored request',
    buckets: [1, 10, 50, 100, 200, 500, 1000, 2000, 5000],
    registers: [this.registry],
  });
  readonly microBatchRequests = new Histogram({
    name: 'mmctr_scorer_micro_batch_requests',
    help: 'Requests per session run when micro-batching is on',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });
  readonly historyLength = new Histogram({
    name: 'mmctr_scorer_history_length',
    help: 'History items used per request',
    buckets: [0, 1, 4, 16, 32, 64, 128],
    registers: [this.registry],
  });
  readonly itemLookups = new Counter({
    name: 'mmctr_scorer_item_lookups_total',
    help: 'Item lookups by result: hit (in-process cache), redis (fetched on a miss), unknown (OOV)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly oovItems = new Counter({
    name: 'mmctr_scorer_oov_items_total',
    help: 'Items scored with out-of-vocabulary features (no category/tags, zero vector)',
    registers: [this.registry],
  });
  readonly degraded = new Counter({
    name: 'mmctr_scorer_degraded_responses_total',
    help: 'Responses flagged degraded, by cause',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly nonFinite = new Counter({
    name: 'mmctr_scorer_non_finite_responses_total',
    help: 'Responses whose model answered a non-finite CTR, by what answered instead (model: the fallback version, prior: SCORER_PRIOR_CTR)',
    labelNames: ['fallback'] as const,
    registers: [this.registry],
  });
  readonly modelInfo = new Gauge({
    name: 'mmctr_scorer_model_info',
    help: '1 for the model version loaded in each role (production, shadow, fallback)',
    labelNames: ['role', 'version'] as const,
    registers: [this.registry],
  });
  readonly modelLoads = new Counter({
    name: 'mmctr_scorer_model_loads_total',
    help: 'Model version loads by result (ok, failed to load, rejected: non-finite CTR at warm-up)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly itemCacheRows = new Gauge({
    name: 'mmctr_scorer_item_cache_rows',
    help: 'Items held in the in-process columnar cache',
    registers: [this.registry],
  });
  readonly itemCacheRefreshes = new Counter({
    name: 'mmctr_scorer_item_cache_refreshes_total',
    help: 'Item cache refreshes by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly scoreLogs = new Counter({
    name: 'mmctr_scorer_score_log_records_total',
    help: 'Score log records by result (produced, dropped, invalid, failed)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly sinkRows = new Counter({
    name: 'mmctr_scorer_score_log_sink_rows_total',
    help: 'score_log rows inserted by the sink, or skipped as invalid',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly sinkInsertSeconds = new Histogram({
    name: 'mmctr_scorer_score_log_sink_insert_duration_seconds',
    help: 'Duration of a score_log insert',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
