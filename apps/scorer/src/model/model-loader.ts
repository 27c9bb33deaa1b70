import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { artifactFeatureRepo, incompatibilityReason, missingFeatures } from '@mmctr/feature-repo';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { SERVING_LAYOUT } from '../layout/layout.module';
import type { ServingLayout } from '../layout/serving-layout';
import { LOGGER } from '../logger';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { InferencePoolService } from './inference-pool.service';
import { OnnxModel, type SessionSettings, type WarmUp } from './onnx-model';
import { intraOpThreads } from './thread-budget';

/** A model whose features the running feature repository cannot supply (never loaded). */
export class IncompatibleModelError extends Error {
  constructor(
    message: string,
    readonly missing: readonly string[],
  ) {
    super(message);
    this.name = 'IncompatibleModelError';
  }
}

/** Opens one model version with the configured session settings (the seam ModelManager's tests fake). */
@Injectable()
export class ModelLoader {
  private cudaFallbackLogged = false;

  constructor(
    @Inject(SCORER_CONFIG) private readonly config: ScorerConfig,
    private readonly metrics: ScorerMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SERVING_LAYOUT) private readonly layout: ServingLayout,
    private readonly inference: InferencePoolService,
  ) {}

  /**
   * Loads and warms `dir` (synthetic inputs, then `warmUp`); throws when either fails, and
   * IncompatibleModelError, before opening a session, when the running repository lacks its features.
   */
  async load(version: string, dir: string, warmUp?: WarmUp): Promise<OnnxModel> {
    this.checkFeatures(version, dir);
    const settings: SessionSettings = {
      modelFile: this.config.SCORER_MODEL_FILE,
      intraOpThreads: intraOpThreads(
        this.config.SCORER_INTRA_OP_THREADS,
        this.config.SCORER_INFERENCE_WORKERS,
        this.config.SCORER_PROCESSES,
      ),
      ...(this.inference.pool ? { pool: this.inference.pool } : {}),
      interOpThreads: this.config.SCORER_INTER_OP_THREADS,
      allowSpinning: this.config.SCORER_ORT_ALLOW_SPINNING,
      provider: this.config.SCORER_EXECUTION_PROVIDER,
      onFallback: (reason) => {
        if (this.cudaFallbackLogged) return;
        this.cudaFallbackLogged = true;
        this.logger.warn({ reason }, 'cuda execution provider unavailable; falling back to cpu');
      },
      microBatch: this.config.SCORER_MICRO_BATCH
        ? {
            windowMs: this.config.SCORER_MICRO_BATCH_WINDOW_MS,
            maxCandidates: this.config.SCORER_MICRO_BATCH_MAX_CANDIDATES,
            onFlush: (requests) => this.metrics.microBatchRequests.observe(requests),
            onUnavailable: (reason) =>
              this.logger.warn(
                { version, reason },
                'no batch graph; this version runs without micro-batching',
              ),
          }
        : undefined,
    };
    return OnnxModel.load(version, dir, this.config.SCORER_MAX_CANDIDATES, settings, this.layout, warmUp);
  }

  /**
   * Refuses an artifact trained with features the running repository does not define (its recorded
   * feature_repo.json), before its layout and signature are checked against the running layout.
   */
  private checkFeatures(version: string, dir: string): void {
    // A record that cannot be read fails the load (naming the file); an artifact without one (a tabular
    // import) is checked by its layout.json and signature alone.
    const trained = artifactFeatureRepo(dir);
    const missing = trained ? missingFeatures(this.layout.repo, trained) : [];
    if (missing.length) {
      throw new IncompatibleModelError(incompatibilityReason(version, this.layout.repo, missing), missing);
    }
  }
}
