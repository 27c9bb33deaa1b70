import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { LOGGER } from '../logger';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { ModelRegistryRepository, type RegistryModel } from './model-registry.repository';
import { OnnxModel, type SessionSettings } from './onnx-model';

export type ModelRole = 'production' | 'shadow';

/** A model pinned for one request: `done` must be called when the request no longer needs it. */
export interface ModelLease {
  model: OnnxModel;
  done: () => void;
}

/**
 * Follows the registry: polls models_current, loads and warms a new production (and, optionally,
 * shadow candidate) version next to the serving one, then swaps the reference. Requests pin the
 * model they started with, so a swap drops none; a version that fails to load is skipped (and retried
 * later) while the old one keeps serving.
 */
@Injectable()
export class ModelManager implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly models: Partial<Record<ModelRole, OnnxModel>> = {};
  private readonly failedUntil = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private fallbackLogged = false;

  constructor(
    @Inject(SCORER_CONFIG) private readonly config: ScorerConfig,
    @Inject(ModelRegistryRepository) private readonly registry: ModelRegistryRepository,
    @Inject(ScorerMetrics) private readonly metrics: ScorerMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.sync();
    if (this.config.SCORER_MODEL_DIR) return;
    this.timer = setInterval(() => void this.sync(), this.config.SCORER_REGISTRY_POLL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
    for (const m of Object.values(this.models)) m?.retire();
  }

  get ready(): boolean {
    return this.models.production !== undefined;
  }

  version(role: ModelRole): string | undefined {
    return this.models[role]?.version;
  }

  /** Pins the current model of a role for one request, or null when none is loaded. */
  lease(role: ModelRole): ModelLease | null {
    const model = this.models[role];
    if (!model) return null;
    return { model, done: model.enter() };
  }

  /** One registry poll (concurrent calls share it). */
  sync(): Promise<void> {
    this.syncing ??= this.doSync().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async doSync(): Promise<void> {
    if (this.config.SCORER_MODEL_DIR) {
      if (!this.models.production) {
        const dir = resolve(this.config.SCORER_MODEL_DIR);
        await this.install('production', {
          version: '',
          artifact_uri: dir,
          model_type: '',
          feature_spec_version: '',
        });
      }
      return;
    }
    try {
      const prod = await this.registry.newest('production');
      if (prod) await this.install('production', prod);
      if (this.config.SCORER_SHADOW_MODE === 'candidate') {
        const cand = await this.registry.newest('candidate');
        if (cand && cand.version !== prod?.version) await this.install('shadow', cand);
        else this.drop('shadow');
      }
    } catch (err) {
      this.logger.warn(
        { err: (err as Error).message },
        'model registry poll failed; keeping the loaded models',
      );
    }
  }

  private artifactDir(uri: string): string {
    if (uri.startsWith('file://')) return fileURLToPath(uri);
    return isAbsolute(uri) ? uri : resolve(this.config.SCORER_MODEL_ROOT, uri);
  }

  private async install(role: ModelRole, entry: RegistryModel): Promise<void> {
    const dir = this.artifactDir(entry.artifact_uri);
    const version = entry.version || dir.split('/').filter(Boolean).pop() || 'local';
    if (this.models[role]?.version === version) return;
    const retryAt = this.failedUntil.get(version);
    if (retryAt !== undefined && retryAt > Date.now()) return;
    const settings: SessionSettings = {
      modelFile: this.config.SCORER_MODEL_FILE,
      intraOpThreads: this.config.SCORER_INTRA_OP_THREADS,
      interOpThreads: this.config.SCORER_INTER_OP_THREADS,
      allowSpinning: this.config.SCORER_ORT_ALLOW_SPINNING,
      provider: this.config.SCORER_EXECUTION_PROVIDER,
      onFallback: (reason) => {
        if (this.fallbackLogged) return;
        this.fallbackLogged = true;
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
    const started = Date.now();
    let next: OnnxModel;
    try {
      next = await OnnxModel.load(version, dir, this.config.SCORER_MAX_CANDIDATES, settings);
    } catch (err) {
      this.failedUntil.set(version, Date.now() + this.config.SCORER_MODEL_RETRY_MS);
      this.metrics.modelLoads.inc({ result: 'failed' });
      this.logger.error(
        { role, version, dir, err: (err as Error).message, serving: this.models[role]?.version ?? null },
        'model version failed to load; the serving version stays',
      );
      return;
    }
    this.failedUntil.delete(version);
    const old = this.models[role];
    this.models[role] = next; // the swap: new requests lease `next`, in-flight ones finish on `old`
    old?.retire();
    if (old) this.metrics.modelInfo.remove({ role, version: old.version });
    this.metrics.modelInfo.set({ role, version }, 1);
    this.metrics.modelLoads.inc({ result: 'ok' });
    this.logger.info(
      { role, version, previous: old?.version ?? null, spec: next.spec.version, ms: Date.now() - started },
      'model version serving',
    );
  }

  private drop(role: ModelRole): void {
    const old = this.models[role];
    if (!old) return;
    delete this.models[role];
    old.retire();
    this.metrics.modelInfo.remove({ role, version: old.version });
  }
}
