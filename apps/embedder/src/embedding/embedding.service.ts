import type { ItemFeatures } from '@mmctr/online-store';
import { permanent } from '../errors';
import type { ImageLoader } from '../image/image-loader';
import { toEncoderPixels } from '../image/image-preprocess';
import type { ModelSet } from '../inference/model-manifest';
import type { ProjectionStore } from '../projection/projection-store';
import type { EmbeddingRepository, EmbeddingRow } from '../storage/embedding.repository';
import type { MmVectorRepository } from '../storage/mm-vector.repository';
import { itemText } from '../text/item-text';

/** Something that turns pixels and text into L2-normalised vectors (the inference pool). */
export interface VectorEncoder {
  image(pixels: Uint8Array): Promise<Float32Array>;
  text(text: string): Promise<Float32Array>;
}

export interface ItemVectors {
  image: Float32Array | null;
  text: Float32Array | null;
}

export type EmbedOutcome = 'stored' | 'stale';

export interface EmbedderServiceOptions {
  maxPixels: number;
}

/**
 * Embeds one item: loads and decodes its image, encodes image and text, projects them to the fused
 * vector and stores all three. Idempotent: a retry of the same content rewrites the same row key
 * (ReplacingMergeTree) and the same Redis entry.
 */
export class EmbeddingService {
  /** embed() calls in progress, and those of them waiting for their ClickHouse row to be stored. */
  private embedding = 0;
  private awaitingWrite = 0;

  constructor(
    private readonly models: ModelSet,
    private readonly loader: ImageLoader,
    private readonly encoder: VectorEncoder,
    private readonly projections: ProjectionStore,
    private readonly embeddings: EmbeddingRepository,
    private readonly mm: MmVectorRepository,
    private readonly opts: EmbedderServiceOptions,
  ) {}

  get encoderIds(): { image: string; text: string } {
    return { image: this.models.image.id, text: this.models.text.id };
  }

  async embed(item: ItemFeatures): Promise<EmbedOutcome> {
    validate(item);
    this.embedding++;
    try {
      // A job for content older than what is stored has nothing to do (out-of-order updates).
      if (await this.mm.hasNewer(item.item_id, item.ts_ms)) return 'stale';
      const vectors = await this.vectors(item);
      return await this.store(item, vectors);
    } finally {
      this.embedding--;
    }
  }

  /** Image and text vectors of an item (null for a modality it does not have). */
  async vectors(item: Pick<ItemFeatures, 'image' | 'title' | 'description' | 'tags'>): Promise<ItemVectors> {
    const text = itemText(item);
    const [image, textVec] = await Promise.all([
      item.image ? this.imageVector(item.image) : Promise.resolve(null),
      text ? this.encoder.text(text) : Promise.resolve(null),
    ]);
    return { image, text: textVec };
  }

  async imageVector(source: string): Promise<Float32Array> {
    const { bytes } = await this.loader.load(source);
    const pixels = await toEncoderPixels(bytes, this.opts.maxPixels);
    return this.encoder.image(pixels);
  }

  /** Projects with the current projection (if any) and writes Redis, then ClickHouse. */
  async store(
    item: Pick<ItemFeatures, 'item_id' | 'ts_ms' | 'content_hash'>,
    v: ItemVectors,
  ): Promise<EmbedOutcome> {
    const projection = this.usableProjection();
    const fused = projection ? projection.project(v.image, v.text) : null;
    const now = Date.now();
    // Redis first: its guard decides whether this content is still current. A crash between the two
    // writes leaves the job to be retried, which repeats both.
    const [written] = await this.mm.write([
      {
        itemId: item.item_id,
        tsMs: item.ts_ms,
        contentHash: item.content_hash,
        projection: projection?.version ?? '',
        projectionMs: projection?.artifact.created_ms ?? 0,
        vector: fused,
      },
    ]);
    if (!written) return 'stale';
    // Rows of concurrent jobs share an insert; once every job in progress waits on a write, no row
    // is coming to join it, so waiting longer would only hold the jobs (and their queue slots).
    this.awaitingWrite++;
    try {
      const everyoneWaits = this.awaitingWrite >= this.embedding;
      await this.embeddings.store(this.row(item, v, fused, projection?.version ?? '', now), everyoneWaits);
    } finally {
      this.awaitingWrite--;
    }
    return 'stored';
  }

  row(
    item: Pick<ItemFeatures, 'item_id' | 'content_hash'>,
    v: ItemVectors,
    fused: Float32Array | null,
    projection: string,
    now: number,
  ): EmbeddingRow {
    return {
      item_id: item.item_id,
      content_hash: item.content_hash,
      image_vec: v.image ?? [],
      text_vec: v.text ?? [],
      fused_vec: fused ?? [],
      image_encoder: this.models.image.id,
      text_encoder: this.models.text.id,
      projection_version: projection,
      created_ms: now,
      created_at: Math.floor(now / 1000),
    };
  }

  /** The current projection if it was fitted on this deployment's encoders. */
  usableProjection() {
    const p = this.projections.current();
    if (!p) return null;
    const e = p.artifact.encoders;
    return e.image === this.models.image.id && e.text === this.models.text.id ? p : null;
  }
}

function validate(item: ItemFeatures): void {
  if (!item || typeof item.item_id !== 'string' || item.item_id === '')
    throw permanent('invalid_job', 'job data has no item_id');
  if (typeof item.content_hash !== 'string' || typeof item.ts_ms !== 'number')
    throw permanent('invalid_job', `item ${item.item_id}: content_hash or ts_ms missing`);
}
