import {
  embeddingContentHash,
  embeddingJobs,
  embeddingText,
  type EntityEmbeddingSpec,
  type FeatureRepo,
  type UnsupportedEmbedding,
} from '@mmctr/feature-repo';
import type { EntityEmbeddingJob } from '@mmctr/online-store';
import { permanent } from '../errors';
import type { EntityEmbeddingRepository } from '../storage/entity-embedding.repository';
import type { MmVectorRepository } from '../storage/mm-vector.repository';
import type { EmbedOutcome, VectorEncoder } from './embedding.service';

/** The entity embeddings the running repository declares, as the embedder computes them. */
export class EntityEmbeddings {
  readonly specs: ReadonlyMap<string, EntityEmbeddingSpec>;
  readonly unsupported: readonly UnsupportedEmbedding[];

  /** `textWidth`: the text encoder's width (an embedding declared with another width is unsupported). */
  constructor(repo: FeatureRepo, textWidth: number) {
    const jobs = embeddingJobs(repo, textWidth);
    this.specs = new Map(jobs.specs.map((s) => [s.name, s]));
    this.unsupported = jobs.unsupported;
  }
}

/**
 * Embeds one entity version for a repository-declared embedding: its inputs' text through the text
 * encoder, stored under the `emb:` Redis hash and in entity_embeddings by (embedding, key, hash of the
 * inputs). Idempotent like the catalogue's: a retry rewrites the same row key and Redis entry.
 */
export class EntityEmbeddingService {
  private embedding = 0;
  private awaitingWrite = 0;

  constructor(
    private readonly declared: EntityEmbeddings,
    private readonly encoder: Pick<VectorEncoder, 'text'>,
    private readonly textEncoderId: string,
    private readonly rows: EntityEmbeddingRepository,
    private readonly mm: MmVectorRepository,
  ) {}

  async embed(job: EntityEmbeddingJob): Promise<EmbedOutcome> {
    this.validate(job);
    this.embedding++;
    try {
      const key = this.mm.entityKey(job.embedding, job.key);
      if (await this.mm.hasNewer(job.key, job.ts_ms, key)) return 'stale';
      const text = embeddingText(job.inputs);
      // No text: no vector (readers see zeros), stored so the entry still follows the newest version.
      const vector = text ? await this.encoder.text(text) : null;
      const [written] = await this.mm.write([
        {
          itemId: job.key,
          key,
          tsMs: job.ts_ms,
          contentHash: job.content_hash,
          projection: '',
          projectionMs: 0,
          vector,
        },
      ]);
      if (!written) return 'stale';
      const now = Date.now();
      this.awaitingWrite++;
      try {
        await this.rows.store(
          {
            embedding: job.embedding,
            entity: job.entity,
            entity_key: job.key,
            content_hash: job.content_hash,
            vec: vector ?? [],
            encoder: this.textEncoderId,
            created_ms: now,
            created_at: Math.floor(now / 1000),
          },
          this.awaitingWrite >= this.embedding,
        );
      } finally {
        this.awaitingWrite--;
      }
      return 'stored';
    } finally {
      this.embedding--;
    }
  }

  private validate(job: EntityEmbeddingJob): void {
    if (!job || typeof job.embedding !== 'string' || typeof job.key !== 'string' || job.key === '')
      throw permanent('invalid_job', 'entity embedding job has no embedding or key');
    const spec = this.declared.specs.get(job.embedding);
    if (!spec || spec.entity !== job.entity)
      throw permanent(
        'invalid_job',
        `embedding '${job.embedding}' of '${job.entity}' is not one the running feature repository embeds`,
      );
    if (
      typeof job.ts_ms !== 'number' ||
      !Array.isArray(job.inputs) ||
      job.inputs.length !== spec.inputs.length
    )
      throw permanent('invalid_job', `${job.embedding} ${job.key}: ts_ms or inputs missing`);
    // The hash keys the vector for the trainer: one that does not match the inputs would mislabel it.
    if (embeddingContentHash(job.inputs) !== job.content_hash)
      throw permanent('invalid_job', `${job.embedding} ${job.key}: content_hash does not match the inputs`);
  }
}
