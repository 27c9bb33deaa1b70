import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { ItemCacheService } from '../items/item-cache.service';
import { LOGGER } from '../logger';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { warmUpWithItems } from './item-warm-up';
import { IncompatibleModelError, ModelLoader } from './model-loader';
import { ModelRegistryRepository, type RegistryModel } from './model-registry.repository';
import { NonFiniteOutputError, type OnnxModel } from './onnx-model';

/** production: answers; shadow: the newest candidate, off the response path; fallback: the production
 * version served before the current one, kept loaded to re-score answers the current one makes NaN. */
export type ModelRole = 'production' | 'shadow' | 'fallback';

/** How many production versions (now and earlier) a sync considers, newest first. */
export const PRODUCTION_VERSIONS_TRIED = 8;

/** A version not served because the running feature repository cannot supply its features. */
export interface RefusedModel {
  version: string;
  reason: string;
}

/** A load failure's metric result and log reason. */
function failure(err: unknown): { result: string; reason: string } {
  if (err instanceof IncompatibleModelError) return { result: 'incompatible', reason: err.message };
  if (err instanceof NonFiniteOutputError) return { result: 'rejected', reason: 'non-finite CTR at warm-up' };
  return { result: 'failed', reason: 'failed to load' };
}

/** A model pinned for one request: `done` must be called when the request no longer needs it. */
export interface ModelLease {
  model: OnnxModel;
  done: () => void;
}

/**
 * Follows the registry: polls it, loads and warms (synthetic inputs, then real cached items) the
 * newest production version that loads and answers finite CTRs, skipping (and logging) newer ones that
 * don't, next to the serving one, then swaps the reference. Requests pin the model they started with,
 * so a swap drops none. The version swapped out stays loaded as the fallback. A skipped version is
 * retried after SCORER_MODEL_RETRY_MS.
 */
@Injectable()
export class ModelManager implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly models: Partial<Record<ModelRole, OnnxModel>> = {};
  private readonly failedUntil = new Map<string, number>();
  private readonly refusals = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;

  private unstoredNoted = false;

  constructor(
    private readonly registry: ModelRegistryRepository,
    private readonly loader: ModelLoader,
    private readonly items: ItemCacheService,
    @Inject(SCORER_CONFIG) private readonly config: ScorerConfig,
    private readonly metrics: ScorerMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // Warm-up scores cached items: have them before the first load (shared with the cache's own start).
    if (!this.items.isLoaded) await this.items.refresh();
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

  /** Versions refused for features the running repository cannot supply (reported by /health/ready). */
  refused(): RefusedModel[] {
    return [...this.refusals].map(([version, reason]) => ({ version, reason }));
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
        await this.installProduction([
          {
            version: '',
            artifact_uri: resolve(this.config.SCORER_MODEL_DIR),
            model_type: '',
            feature_spec_version: '',
          },
        ]);
      }
      return;
    }
    try {
      const versions = await this.registry.productionVersions(PRODUCTION_VERSIONS_TRIED);
      await this.installProduction(versions);
      if (this.config.SCORER_SHADOW_MODE === 'candidate') {
        const cand = await this.registry.newest('candidate');
        if (cand && cand.version !== versions[0]?.version) await this.installShadow(cand);
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

  private identify(entry: RegistryModel): { version: string; dir: string } {
    const dir = this.artifactDir(entry.artifact_uri);
    return { dir, version: entry.version || dir.split('/').filter(Boolean).pop() || 'local' };
  }

  /**
   * Serves the first of `entries` (newest first) that loads and warms up; stops at the serving version
   * (nothing older replaces it). Versions before it that fail are skipped and logged.
   */
  private async installProduction(entries: RegistryModel[]): Promise<void> {
    for (const entry of entries) {
      const { version, dir } = this.identify(entry);
      if (this.models.production?.version === version) return;
      const kept = this.models.fallback?.version === version ? this.models.fallback : undefined;
      if (kept) delete this.models.fallback; // a rollback to the fallback reuses its session
      const next = kept ?? (await this.tryLoad('production', version, dir));
      if (!next) continue;
      const old = this.models.production;
      this.models.production = next; // the swap: new requests lease `next`, in-flight ones finish on `old`
      if (kept) this.metrics.modelInfo.remove({ role: 'fallback', version });
      if (old) {
        this.metrics.modelInfo.remove({ role: 'production', version: old.version });
        this.setFallback(old);
      }
      this.metrics.modelInfo.set({ role: 'production', version }, 1);
      this.logger.info(
        { role: 'production', version, previous: old?.version ?? null, features: next.layout.version },
        'model version serving',
      );
      return;
    }
  }

  private async installShadow(entry: RegistryModel): Promise<void> {
    const { version, dir } = this.identify(entry);
    if (this.models.shadow?.version === version) return;
    const next = await this.tryLoad('shadow', version, dir);
    if (!next) return;
    this.drop('shadow');
    this.models.shadow = next;
    this.metrics.modelInfo.set({ role: 'shadow', version }, 1);
    this.logger.info({ role: 'shadow', version, features: next.layout.version }, 'model version serving');
  }

  /** The version swapped out stays loaded for re-scoring; the one it replaces is released. */
  private setFallback(model: OnnxModel): void {
    this.drop('fallback');
    this.models.fallback = model;
    this.metrics.modelInfo.set({ role: 'fallback', version: model.version }, 1);
  }

  /** Loads and warms a version; null (logged, counted, retried later) when it fails or is refused. */
  private async tryLoad(role: ModelRole, version: string, dir: string): Promise<OnnxModel | null> {
    const retryAt = this.failedUntil.get(version);
    if (retryAt !== undefined && retryAt > Date.now()) return null;
    const started = Date.now();
    let warmedItems = 0;
    try {
      const model = await this.loader.load(version, dir, async (m) => {
        warmedItems = await warmUpWithItems(m, this.items.cache);
      });
      this.failedUntil.delete(version);
      this.refusals.delete(version);
      this.metrics.modelLoads.inc({ result: 'ok' });
      this.logger.info(
        { role, version, warm_up_items: warmedItems, ms: Date.now() - started },
        'model version loaded and warmed up',
      );
      this.noteUnstoredEmbeddings(model);
      return model;
    } catch (err) {
      const { result, reason } = failure(err);
      this.failedUntil.set(version, Date.now() + this.config.SCORER_MODEL_RETRY_MS);
      if (err instanceof IncompatibleModelError) this.refusals.set(version, reason);
      this.metrics.modelLoads.inc({ result });
      this.logger.error(
        {
          role,
          version,
          dir,
          reason,
          err: (err as Error).message,
          serving: this.models[role]?.version ?? null,
          retry_in_ms: this.config.SCORER_MODEL_RETRY_MS,
        },
        'model version skipped',
      );
      return null;
    }
  }

  /** Once per process: the layout's embeddings no store holds, which every model reads as zeros. */
  private noteUnstoredEmbeddings(model: OnnxModel): void {
    const names = model.layout.unstoredEmbeddings;
    if (this.unstoredNoted || names.length === 0) return;
    this.unstoredNoted = true;
    this.logger.warn(
      { embeddings: names, entity: model.layout.candidateEntity },
      'no vectors are stored for these embeddings; their slots read zeros',
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
