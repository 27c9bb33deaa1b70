import type { ItemFeatures } from '@mmctr/online-store';
import { EmbedFailure, reasonOf } from '../errors';
import type { ModelSet } from '../inference/model-manifest';
import { fitProjection, Projection, type ProjectionArtifact } from '../projection/projection';
import type { ProjectionStore } from '../projection/projection-store';
import type { EmbeddingRepository, StoredVectors } from '../storage/embedding.repository';
import type { MmVectorRepository } from '../storage/mm-vector.repository';
import type { EmbeddingService } from './embedding.service';

export interface BackfillProgress {
  total: number;
  done: number;
  failed: number;
}

export interface BackfillResult {
  total: number;
  skipped: number;
  stored: number;
  stale: number;
  failures: { item_id: string; reason: string; message: string }[];
  refit: RefitResult | null;
}

export interface RefitResult {
  version: string;
  dim: number;
  items: number;
  fittedOn: number;
  explainedVarianceRatio: number;
  seconds: number;
}

/** What the CLI runs in-process: catalogue backfill, single items, projection refits. */
export class BackfillService {
  constructor(
    private readonly models: ModelSet,
    private readonly service: EmbeddingService,
    private readonly embeddings: EmbeddingRepository,
    private readonly mm: MmVectorRepository,
    private readonly projections: ProjectionStore,
    private readonly opts: { fusedDim: number; pcaSample: number },
  ) {}

  /**
   * Embeds every catalogue item (items_latest) not yet embedded with its current content by these
   * encoders under the current projection. With no projection yet, stores image and text vectors,
   * then fits the first projection and fills in the fused vectors.
   */
  async embedAll(opts: {
    force?: boolean;
    concurrency: number;
    onProgress?: (p: BackfillProgress) => void;
  }): Promise<BackfillResult> {
    const items = await this.embeddings.catalogue();
    const projection = this.service.usableProjection();
    const done = opts.force
      ? new Set<string>()
      : await this.embeddings.embeddedKeys(this.service.encoderIds, projection?.version ?? '');
    const todo = items.filter((i) => !done.has(`${i.item_id}\t${i.content_hash}`));
    const result = await this.run(todo, opts.concurrency, opts.onProgress);
    const refit = projection ? null : await this.refit();
    return { total: items.length, skipped: items.length - todo.length, ...result, refit };
  }

  async embedItem(itemId: string): Promise<BackfillResult> {
    const items = await this.embeddings.catalogue(itemId);
    if (items.length === 0) throw new Error(`item ${itemId} is not in items_latest`);
    const result = await this.run(items, 1);
    return { total: 1, skipped: 0, ...result, refit: null };
  }

  /**
   * Fits a new projection on the stored image and text vectors of the catalogue's current content
   * (no re-encoding), makes it current, and writes every item's fused vector under it.
   */
  async refit(
    opts: {
      dim?: number;
      sample?: number;
      itemIds?: string[];
      onProgress?: (p: BackfillProgress) => void;
    } = {},
  ) {
    const started = performance.now();
    const encoders = this.service.encoderIds;
    const stored = await this.embeddings.currentVectors(encoders, opts.itemIds);
    if (stored.length < 2)
      throw new Error(`refit needs stored vectors of at least 2 items, found ${stored.length}`);
    const sample = evenSample(stored, opts.sample ?? this.opts.pcaSample);
    const artifact: ProjectionArtifact = fitProjection(
      sample.map((s) => ({ image: vec(s.image_vec), text: vec(s.text_vec) })),
      {
        dim: opts.dim ?? this.opts.fusedDim,
        encoders,
        imageDim: this.models.image.dim,
        textDim: this.models.text.dim,
      },
    );
    const projection = new Projection(artifact);
    await this.reproject(projection, stored, opts.onProgress);
    // Current only once every item has its fused vector under it: workers switch to a complete version.
    this.projections.save(artifact);
    return {
      version: artifact.version,
      dim: artifact.dim,
      items: stored.length,
      fittedOn: sample.length,
      explainedVarianceRatio: artifact.fitted_on.explained_variance_ratio,
      seconds: (performance.now() - started) / 1000,
    } satisfies RefitResult;
  }

  private async reproject(
    projection: Projection,
    stored: StoredVectors[],
    onProgress?: (p: BackfillProgress) => void,
  ): Promise<void> {
    const chunk = 1_000;
    for (let i = 0; i < stored.length; i += chunk) {
      const part = stored.slice(i, i + chunk);
      const now = Date.now();
      const fused = part.map((s) => projection.project(vec(s.image_vec), vec(s.text_vec)));
      await this.embeddings.storeMany(
        part.map((s, j) =>
          this.service.row(
            s,
            { image: vec(s.image_vec), text: vec(s.text_vec) },
            fused[j]!,
            projection.version,
            now,
          ),
        ),
      );
      await this.mm.write(
        part.map((s, j) => ({
          itemId: s.item_id,
          tsMs: s.ts_ms,
          contentHash: s.content_hash,
          projection: projection.version,
          projectionMs: projection.artifact.created_ms,
          vector: fused[j]!,
        })),
      );
      onProgress?.({ total: stored.length, done: Math.min(stored.length, i + chunk), failed: 0 });
    }
  }

  private async run(items: ItemFeatures[], concurrency: number, onProgress?: (p: BackfillProgress) => void) {
    let next = 0;
    let stored = 0;
    let stale = 0;
    const failures: BackfillResult['failures'] = [];
    const report = () =>
      onProgress?.({ total: items.length, done: stored + stale + failures.length, failed: failures.length });
    const lane = async () => {
      while (next < items.length) {
        const item = items[next++]!;
        try {
          if ((await this.service.embed(item)) === 'stored') stored++;
          else stale++;
        } catch (err) {
          failures.push({
            item_id: item.item_id,
            reason: reasonOf(err),
            message: err instanceof EmbedFailure ? err.message : (err as Error).message,
          });
        }
        report();
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, lane));
    await this.embeddings.flush();
    return { stored, stale, failures };
  }
}

const vec = (a: number[]) => (a.length > 0 ? Float32Array.from(a) : null);

/** Every k-th item, deterministic: the fit does not depend on the order of arrival. */
function evenSample<T>(rows: T[], max: number): T[] {
  if (rows.length <= max) return rows;
  const step = rows.length / max;
  return Array.from({ length: max }, (_, i) => rows[Math.floor(i * step)]!);
}
