import { randomUUID } from 'node:crypto';
import { Inject, Injectable, ServiceUnavailableException } from '@nestjs/common';
import type { Logger } from 'pino';
import type { ScoreLogRecord } from '@mmctr/contracts';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { HistoryRepository } from '../history/history.repository';
import { ItemCacheService } from '../items/item-cache.service';
import { LOGGER } from '../logger';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { ModelManager, type ModelLease } from '../model/model-manager.service';
import type { OnnxModel } from '../model/onnx-model';
import { ScoreLogProducer } from '../score-log/score-log.producer';
import { withTimeout } from '../with-timeout';
import { FeatureAssembler, type AssemblyInput } from './feature-assembler';
import type { ScoreRequest, ScoreResponse } from './score-request';

const seconds = (fromNs: bigint) => Number(process.hrtime.bigint() - fromNs) / 1e9;

/** Scores one request: history + item features -> one batched session.run -> response + score log. */
@Injectable()
export class ScoreService {
  private readonly assembler = new FeatureAssembler();

  constructor(
    @Inject(SCORER_CONFIG) private readonly config: ScorerConfig,
    @Inject(ModelManager) private readonly models: ModelManager,
    @Inject(HistoryRepository) private readonly history: HistoryRepository,
    @Inject(ItemCacheService) private readonly items: ItemCacheService,
    @Inject(ScoreLogProducer) private readonly scoreLog: ScoreLogProducer,
    @Inject(ScorerMetrics) private readonly metrics: ScorerMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async score(req: ScoreRequest): Promise<ScoreResponse> {
    const lease = this.models.lease('production');
    if (!lease) throw new ServiceUnavailableException('no model loaded yet');
    try {
      return await this.scoreWith(lease, req);
    } finally {
      lease.done();
    }
  }

  private async scoreWith(lease: ModelLease, req: ScoreRequest): Promise<ScoreResponse> {
    const { model } = lease;
    const tsMs = req.ts_ms ?? Date.now();
    const requestId = req.request_id ?? randomUUID();
    const context = req.context ?? {};
    const candidateIds = req.candidates.map((c) => c.item_id);
    const positions = req.candidates.map((c, i) => c.position ?? i);
    const reasons: string[] = [];

    // The Redis history call is in flight while the candidates are looked up and encoded.
    const started = process.hrtime.bigint();
    let historyS = 0;
    const historyCall = withTimeout(
      this.history.recent(req.user_id, model.dims.L, req.ts_ms),
      this.config.SCORER_REDIS_TIMEOUT_MS,
      'history',
    ).then(
      (entries) => ((historyS = seconds(started)), entries),
      () => ((historyS = seconds(started)), null),
    );

    let ctrs: Float32Array | undefined;
    let historyIds: string[] = [];
    let historyTsMs: number[] = [];
    const input: AssemblyInput = {
      userId: req.user_id,
      context,
      tsMs,
      historyIds,
      historyRows: new Int32Array(0),
      historyTsMs,
      candidateIds,
      candidateRows: new Int32Array(candidateIds.length).fill(-1),
      positions,
    };
    const buffers = model.acquireBuffers();
    try {
      let t = process.hrtime.bigint();
      const candidates = await this.items.lookup(candidateIds);
      let itemsS = seconds(t);
      t = process.hrtime.bigint();
      input.candidateRows = candidates.rows;
      let oov = this.assembler.assembleCandidates(model.spec, this.items.cache, buffers, input);
      let encodeS = seconds(t);

      const fetched = await historyCall;
      if (fetched === null) reasons.push('history');
      historyIds = fetched ? fetched.map((e) => e.item_id) : [];
      historyTsMs = fetched ? fetched.map((e) => e.ts_ms) : [];
      this.metrics.stageSeconds.observe({ stage: 'history' }, historyS);
      this.metrics.historyLength.observe(historyIds.length);

      t = process.hrtime.bigint();
      const history = historyIds.length
        ? await this.items.lookup(historyIds)
        : { rows: new Int32Array(0), failed: false };
      if (candidates.failed || history.failed) reasons.push('items');
      itemsS += seconds(t);
      this.metrics.stageSeconds.observe({ stage: 'items' }, itemsS);

      input.historyIds = historyIds;
      input.historyRows = history.rows;
      input.historyTsMs = historyTsMs;
      t = process.hrtime.bigint();
      oov += this.assembler.assembleUserAndHistory(model.spec, this.items.cache, buffers, input);
      if (oov) this.metrics.oovItems.inc(oov);
      encodeS += seconds(t);
      this.metrics.stageSeconds.observe({ stage: 'encode' }, encodeS);

      t = process.hrtime.bigint();
      ctrs = await model.run(buffers, candidateIds.length);
      const s = seconds(t);
      this.metrics.stageSeconds.observe({ stage: 'inference' }, s);
      this.metrics.inferenceSeconds.observe({ role: 'production' }, s);
    } catch (err) {
      reasons.push('inference');
      this.logger.error(
        { request_id: requestId, err: (err as Error).message },
        'inference failed; answering priors',
      );
    } finally {
      model.releaseBuffers(buffers);
    }
    this.metrics.batchSize.observe(candidateIds.length);

    // A non-finite CTR is never answered: re-score with the fallback version, else answer the prior.
    let served = model;
    if (ctrs && !ctrs.every(Number.isFinite)) {
      reasons.push('non_finite');
      const rescored = await this.rescore(input, model.version, requestId);
      if (rescored) {
        served = rescored.model;
        ctrs = rescored.ctrs;
      } else {
        for (let i = 0; i < ctrs.length; i++)
          if (!Number.isFinite(ctrs[i]!)) ctrs[i] = this.config.SCORER_PRIOR_CTR;
      }
      this.metrics.nonFinite.inc({ fallback: rescored ? 'model' : 'prior' });
    }
    for (const r of reasons) this.metrics.degraded.inc({ reason: r });

    const prior = this.config.SCORER_PRIOR_CTR;
    const response: ScoreResponse = {
      request_id: requestId,
      model_version: served.version,
      scores: candidateIds.map((item_id, i) => ({ item_id, ctr: ctrs ? ctrs[i]! : prior })),
      degraded: reasons.length > 0,
    };
    const record: ScoreLogRecord = {
      schema_version: 1,
      request_id: requestId,
      ts_ms: tsMs,
      user_id: req.user_id,
      model_version: served.version,
      feature_spec_version: served.spec.version,
      context: { ...context },
      history_item_ids: historyIds.slice(0, served.dims.L),
      // Click times of history_item_ids: the ages are recomputed from these and ts_ms.
      history_ts_ms: historyTsMs.slice(0, served.dims.L),
      item_ids: candidateIds,
      positions,
      ctrs: response.scores.map((s) => s.ctr),
      degraded: response.degraded,
    };
    this.logAfterResponse(record, input);
    return response;
  }

  /** Shadow scoring (if any) and queueing the record run after the response is written. */
  private logAfterResponse(record: ScoreLogRecord, input: AssemblyInput): void {
    if (!this.scoreLog.enabled) return;
    const shadow = this.models.lease('shadow');
    if (!shadow) {
      setImmediate(() => this.scoreLog.publish(record));
      return;
    }
    setImmediate(() => {
      void this.runShadow(shadow, input)
        .then((ctrs) => {
          if (ctrs) {
            record.shadow_model_version = shadow.model.version;
            record.shadow_ctrs = Array.from(ctrs);
          }
        })
        .finally(() => {
          shadow.done();
          this.scoreLog.publish(record);
        });
    });
  }

  /**
   * The same request scored by the fallback version (the production version served before this one),
   * encoded under its own spec; null when there is none or it is not finite either.
   */
  private async rescore(
    input: AssemblyInput,
    failedVersion: string,
    requestId: string,
  ): Promise<{ model: OnnxModel; ctrs: Float32Array } | null> {
    const lease = this.models.lease('fallback');
    let ctrs: Float32Array | null = null;
    if (lease) {
      const buffers = lease.model.acquireBuffers();
      try {
        this.assembler.assemble(lease.model.spec, this.items.cache, buffers, input);
        const out = await lease.model.run(buffers, input.candidateIds.length);
        if (out.every(Number.isFinite)) ctrs = out;
      } catch (err) {
        this.logger.warn({ request_id: requestId, err: (err as Error).message }, 'fallback scoring failed');
      } finally {
        lease.model.releaseBuffers(buffers);
        lease.done();
      }
    }
    this.logger.warn(
      {
        request_id: requestId,
        version: failedVersion,
        fallback: ctrs && lease ? lease.model.version : 'prior',
      },
      'model answered a non-finite CTR; answering the fallback',
    );
    return ctrs && lease ? { model: lease.model, ctrs } : null;
  }

  private async runShadow(lease: ModelLease, input: AssemblyInput): Promise<Float32Array | null> {
    const { model } = lease;
    const buffers = model.acquireBuffers();
    try {
      this.assembler.assemble(model.spec, this.items.cache, buffers, input);
      const t = process.hrtime.bigint();
      const ctrs = await model.run(buffers, input.candidateIds.length);
      this.metrics.inferenceSeconds.observe({ role: 'shadow' }, seconds(t));
      return ctrs;
    } catch (err) {
      this.logger.warn({ version: model.version, err: (err as Error).message }, 'shadow scoring failed');
      return null;
    } finally {
      model.releaseBuffers(buffers);
    }
  }
}
