import { randomUUID } from 'node:crypto';
import { Inject, Injectable, ServiceUnavailableException } from '@nestjs/common';
import type { Logger } from 'pino';
import type { HistoryEntry } from '@mmctr/online-store';
import { DeadlineExceededError, type WorkDeadline } from '../admission/work-deadline';
import { AggregateReadsService } from '../aggregates/aggregate-reads.service';
import { EntityCacheService } from '../entities/entity-cache.service';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { HistoryRepository } from '../history/history.repository';
import { ItemCacheService } from '../items/item-cache.service';
import { SERVING_LAYOUT } from '../layout/layout.module';
import type { ServingLayout } from '../layout/serving-layout';
import { LOGGER } from '../logger';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { ModelManager, type ModelLease } from '../model/model-manager.service';
import type { OnnxModel } from '../model/onnx-model';
import { POSITION, scoreLogRecord, type ScoreLogParts } from '../score-log/score-log-record';
import { ScoreLogProducer } from '../score-log/score-log.producer';
import { withTimeout } from '../with-timeout';
import { FeatureAssembler, type AssemblyInput } from './feature-assembler';
import type { ScoreRequest, ScoreResponse } from './score-request';
import { zeroOf } from './score-request-schema';

const seconds = (fromNs: bigint) => Number(process.hrtime.bigint() - fromNs) / 1e9;

type Stage = 'history' | 'items' | 'aggregates' | 'encode' | 'inference';
/**
 * A request's stage totals in seconds, filled as the stages end (for Server-Timing). `history_wait`:
 * the part of `history` left after the work overlapped with it (the candidates' lookup and encoding),
 * i.e. what the Redis call added to the request.
 */
export type StageTimes = Partial<Record<Stage | 'history_wait', number>>;

/**
 * One request's stage clock. A stage may run in several pieces (items: the candidates' lookup, then the
 * history's), so `timed` adds each piece's run time and `observe` records the stage's total once: one
 * sample per stage per request in mmctr_scorer_stage_duration_seconds.
 */
class StageTimer {
  private readonly totals: Record<Stage, number> = {
    history: 0,
    items: 0,
    aggregates: 0,
    encode: 0,
    inference: 0,
  };

  constructor(
    private readonly metrics: ScorerMetrics,
    private readonly out?: StageTimes,
  ) {}

  /** Runs `fn`, adding its time (until its promise settles, for an async one) to `stage`. */
  timed<T>(stage: Stage, fn: () => T): T {
    const started = process.hrtime.bigint();
    const add = () => void (this.totals[stage] += seconds(started));
    const out = fn();
    if (out instanceof Promise) return out.finally(add) as T;
    add();
    return out;
  }

  /** A Server-Timing figure that is not a stage metric. */
  note(name: 'history_wait', s: number): void {
    if (this.out) this.out[name] = s;
  }

  /** Records the stage's total; returns it in seconds. */
  observe(stage: Stage): number {
    const total = this.totals[stage];
    this.metrics.stageSeconds.observe({ stage }, total);
    if (this.out) this.out[stage] = total;
    return total;
  }
}

/** The assembly input of a request, before any lookup: every row unknown, no history yet. */
function requestInput(req: ScoreRequest, layout: ServingLayout): AssemblyInput {
  const candidateIds = req.candidates.map((c) => c.item_id);
  const candidateContext = Object.fromEntries(
    layout.repo.context.attributes
      .filter((a) => a.scope === 'candidate')
      .map((a) => {
        const fallback = a.default ?? zeroOf(a.type);
        const values = req.candidates.map((c, i) => c[a.name] ?? (a.name === POSITION ? i : fallback));
        return [a.name, values];
      }),
  );
  return {
    userId: req.user_id,
    context: req.context ?? {},
    tsMs: req.ts_ms ?? Date.now(),
    sequences: layout.sequences.map(() => ({ ids: [], rows: new Int32Array(0), tsMs: [] })),
    candidateIds,
    candidateRows: new Int32Array(candidateIds.length).fill(-1),
    candidateContext,
  };
}

/** Scores one request: history + item features -> one batched session.run -> response + score log. */
@Injectable()
export class ScoreService {
  private readonly assembler: FeatureAssembler;
  /** Whether requests read entities raw: sequence targets other than the candidate's, joined rows. */
  private readonly otherTargets: boolean;

  constructor(
    @Inject(SCORER_CONFIG) private readonly config: ScorerConfig,
    private readonly models: ModelManager,
    private readonly history: HistoryRepository,
    private readonly items: ItemCacheService,
    private readonly scoreLog: ScoreLogProducer,
    private readonly metrics: ScorerMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SERVING_LAYOUT) private readonly layout: ServingLayout,
    private readonly entities: EntityCacheService,
    private readonly aggregates: AggregateReadsService,
  ) {
    this.assembler = new FeatureAssembler(layout);
    this.otherTargets = layout.sequences.some((s) => !s.itemTarget);
  }

  /**
   * `stages`, when given, receives the request's stage totals. With a `deadline`, the work stops with a
   * DeadlineExceededError when it has passed by the time the model would run: the run is saved. (An
   * answer that would leave after it is turned into a 503 by admission's onSend hook.)
   */
  async score(req: ScoreRequest, stages?: StageTimes, deadline?: WorkDeadline): Promise<ScoreResponse> {
    const lease = this.models.lease('production');
    if (!lease) throw new ServiceUnavailableException('no model loaded yet');
    try {
      return await this.scoreWith(lease, req, stages, deadline);
    } finally {
      lease.done();
    }
  }

  private async scoreWith(
    lease: ModelLease,
    req: ScoreRequest,
    stages: StageTimes | undefined,
    deadline: WorkDeadline | undefined,
  ): Promise<ScoreResponse> {
    const { model } = lease;
    const requestId = req.request_id ?? randomUUID();
    const input = requestInput(req, this.layout);
    const reasons: string[] = [];

    const timer = new StageTimer(this.metrics, stages);
    let ctrs = await this.inferProduction(model, req, input, reasons, requestId, timer, deadline);
    this.metrics.batchSize.observe(input.candidateIds.length);
    let served = model;
    if (ctrs && !ctrs.every(Number.isFinite)) {
      reasons.push('non_finite');
      ({ model: served, ctrs } = await this.finiteFallback(model, ctrs, input, requestId));
    }
    for (const r of reasons) this.metrics.degraded.inc({ reason: r });

    const prior = this.config.SCORER_PRIOR_CTR;
    const response: ScoreResponse = {
      request_id: requestId,
      model_version: served.version,
      scores: input.candidateIds.map((item_id, i) => ({ item_id, ctr: ctrs ? ctrs[i]! : prior })),
      degraded: reasons.length > 0,
    };
    this.logAfterResponse({ layout: this.layout, input, served, response });
    return response;
  }

  /**
   * The production model's CTRs: candidates looked up and encoded while the Redis call for the
   * requester (its sequences and attributes, one round trip) is in flight, then the aggregate windows
   * (in flight beside it: they need the candidates' rows for composite keys), the sequences' items,
   * then the entities read raw (other sequence targets, joined rows), then one run. Fills `input` as it
   * goes, and `reasons` with what degraded the answer; undefined when it failed (the prior is answered).
   */
  private async inferProduction(
    model: OnnxModel,
    req: ScoreRequest,
    input: AssemblyInput,
    reasons: string[],
    requestId: string,
    timer: StageTimer,
    deadline: WorkDeadline | undefined,
  ): Promise<Float32Array | undefined> {
    const requesterCall = timer
      .timed('history', () =>
        withTimeout(
          this.history.read(req.user_id, req.ts_ms),
          this.config.SCORER_REDIS_TIMEOUT_MS,
          'history',
        ),
      )
      .catch(() => null);
    const buffers = model.acquireBuffers();
    try {
      const candidates = await timer.timed('items', () => this.items.lookup(input.candidateIds));
      input.candidateRows = candidates.rows;
      const aggregateCall = this.aggregates.active
        ? timer.timed('aggregates', () => this.aggregates.read(input, this.items.cache))
        : undefined;
      let oov = timer.timed('encode', () =>
        this.assembler.assembleCandidates(this.items.cache, buffers, input),
      );

      const waitStarted = process.hrtime.bigint();
      const fetched = await requesterCall;
      timer.note('history_wait', seconds(waitStarted));
      if (fetched === null) reasons.push('history');
      timer.observe('history');
      input.requester = (fetched?.attributes ?? null) as AssemblyInput['requester'];
      const lists = fetched?.sequences ?? [];
      this.metrics.historyLength.observe(lists[0]?.length ?? 0);
      if (!(await timer.timed('items', () => this.lookupSequences(input, lists)))) reasons.push('items');
      if (candidates.failed) reasons.push('items');
      timer.observe('items');
      if (aggregateCall) {
        const read = await aggregateCall;
        input.aggregates = read.values;
        if (read.failed) reasons.push('aggregates');
        timer.observe('aggregates');
      }

      oov += timer.timed('encode', () => this.assembler.assembleRequest(this.items.cache, buffers, input));
      if (oov) this.metrics.oovItems.inc(oov);
      timer.observe('encode');

      if (deadline?.passed()) throw new DeadlineExceededError();
      const ctrs = await timer.timed('inference', () => model.run(buffers, input.candidateIds.length));
      this.metrics.inferenceSeconds.observe({ role: 'production' }, timer.observe('inference'));
      return ctrs;
    } catch (err) {
      if (err instanceof DeadlineExceededError) throw err;
      reasons.push('inference');
      this.logger.error(
        { request_id: requestId, err: (err as Error).message },
        'inference failed; answering priors',
      );
      return undefined;
    } finally {
      model.releaseBuffers(buffers);
    }
  }

  /**
   * Fills each sequence of `input` from its fetched entries: the candidate entity's from the item cache
   * (one lookup for all of them), other targets and joined rows from the entity cache. False when a
   * lookup failed (some rows may be wrongly unknown).
   */
  private async lookupSequences(input: AssemblyInput, lists: readonly HistoryEntry[][]): Promise<boolean> {
    const ids: string[] = [];
    this.layout.sequences.forEach((s, k) => {
      const entries = lists[k] ?? [];
      input.sequences[k]!.ids = entries.map((e) => e.item_id);
      input.sequences[k]!.tsMs = entries.map((e) => e.ts_ms);
      if (s.itemTarget) for (const e of entries) ids.push(e.item_id);
    });
    const found = ids.length ? await this.items.lookup(ids) : { rows: new Int32Array(0), failed: false };
    let at = 0;
    for (const [k, s] of this.layout.sequences.entries()) {
      if (!s.itemTarget) continue;
      const n = input.sequences[k]!.ids.length;
      input.sequences[k]!.rows = found.rows.subarray(at, at + n);
      at += n;
    }
    let ok = !found.failed;
    input.entities = (entity, key) => this.entities.get(entity, key);
    if (this.otherTargets)
      ok = (await this.entities.load(this.assembler.rawWants(this.items.cache, input, 'targets'))) && ok;
    if (this.layout.joins)
      ok = (await this.entities.load(this.assembler.rawWants(this.items.cache, input, 'joins'))) && ok;
    return ok;
  }

  /**
   * A non-finite CTR is never answered: the request re-scored by the fallback version, else the prior
   * in place of each non-finite CTR.
   */
  private async finiteFallback(
    model: OnnxModel,
    ctrs: Float32Array,
    input: AssemblyInput,
    requestId: string,
  ): Promise<{ model: OnnxModel; ctrs: Float32Array }> {
    const rescored = await this.rescore(input, model.version, requestId);
    this.metrics.nonFinite.inc({ fallback: rescored ? 'model' : 'prior' });
    if (rescored) return rescored;
    for (let i = 0; i < ctrs.length; i++)
      if (!Number.isFinite(ctrs[i]!)) ctrs[i] = this.config.SCORER_PRIOR_CTR;
    return { model, ctrs };
  }

  /**
   * Shadow scoring (if any), building the record (500 candidate objects) and queueing it run after the
   * response is written.
   */
  private logAfterResponse(parts: ScoreLogParts): void {
    if (!this.scoreLog.enabled) return;
    const shadow = this.models.lease('shadow');
    if (!shadow) {
      setImmediate(() => this.scoreLog.publish(scoreLogRecord(parts)));
      return;
    }
    setImmediate(() => {
      const record = scoreLogRecord(parts);
      void this.runShadow(shadow, parts.input)
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
   * encoded alike (every model follows the running repository's layout); null when there is none or it is not finite either.
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
        this.assembler.assemble(this.items.cache, buffers, input);
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
      this.assembler.assemble(this.items.cache, buffers, input);
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
