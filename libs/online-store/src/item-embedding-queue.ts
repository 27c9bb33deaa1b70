import { Queue } from 'bullmq';
import type Redis from 'ioredis';
import type { AppConfig } from '@mmctr/config';
import type { EntityEmbeddingWork } from '@mmctr/feature-repo';
import { embeddingJobId } from './content-hash';
import type { ItemFeatures } from './online-store';

/** Payload of an `item-embeddings` job (consumed by apps/embedder). */
export type ItemEmbeddingJob = ItemFeatures;

/** Name of the jobs that embed one version of an entity for a repository-declared embedding. */
export const ENTITY_EMBEDDING_JOB = 'embed-entity';

/**
 * Payload of an `embed-entity` job: the embedding, the entity version and the values of the
 * embedding's inputs, keyed by their hash (built by libs/feature-repo entityEmbeddingWork).
 */
export type EntityEmbeddingJob = EntityEmbeddingWork;

/** Its job id: the same embedding, key and content always give the same id (no ':', see embeddingJobId). */
export const entityEmbeddingJobId = (
  j: Pick<EntityEmbeddingJob, 'embedding' | 'key' | 'content_hash'>,
): string => `ent-${j.embedding}-${encodeURIComponent(j.key)}-${j.content_hash}`;

export const ITEM_EMBEDDINGS_QUEUE = 'item-embeddings';

/**
 * Name and key prefix of the embeddings queue: producers, the worker and readers all use this. BullMQ's
 * scripts touch several keys of a queue, so on a Redis Cluster the prefix is a hash tag (`{bull}`),
 * which puts all of them in one slot; a single server keeps the prefix as configured.
 */
export function embeddingQueueRef(
  config: Pick<AppConfig, 'EMBEDDINGS_QUEUE' | 'BULLMQ_PREFIX'> &
    Partial<Pick<AppConfig, 'REDIS_CLUSTER_NODES'>>,
): {
  name: string;
  prefix: string;
} {
  const cluster = (config.REDIS_CLUSTER_NODES?.length ?? 0) > 0;
  const tagged = /\{[^}]+\}/.test(config.BULLMQ_PREFIX);
  return {
    name: config.EMBEDDINGS_QUEUE,
    prefix: cluster && !tagged ? `{${config.BULLMQ_PREFIX}}` : config.BULLMQ_PREFIX,
  };
}

/**
 * Producer side of the `item-embeddings` BullMQ queue. The job id is derived from the item id and its
 * content hash, so adding the same content twice is a no-op while the job exists.
 */
export class ItemEmbeddingQueue {
  readonly queue: Queue<ItemEmbeddingJob>;

  constructor(connection: Redis, opts: { name?: string; prefix?: string } = {}) {
    this.queue = new Queue<ItemEmbeddingJob>(opts.name ?? ITEM_EMBEDDINGS_QUEUE, {
      connection,
      prefix: opts.prefix ?? 'bull',
      defaultJobOptions: {
        attempts: 5,
        backoff: { type: 'exponential', delay: 1_000 },
        // Completed jobs stay (bounded) so their ids keep de-duplicating re-adds of the same content.
        removeOnComplete: { count: 100_000 },
        removeOnFail: { count: 10_000 },
      },
    });
  }

  static fromConfig(connection: Redis, config: Parameters<typeof embeddingQueueRef>[0]): ItemEmbeddingQueue {
    return new ItemEmbeddingQueue(connection, embeddingQueueRef(config));
  }

  async enqueue(items: readonly ItemFeatures[]): Promise<void> {
    if (items.length === 0) return;
    await this.queue.addBulk(
      items.map((item) => ({
        name: 'embed',
        data: item,
        opts: { jobId: embeddingJobId(item.item_id, item.content_hash) },
      })),
    );
  }

  /** Entity embedding jobs (one per embedding and entity version); re-adding the same content is a no-op. */
  async enqueueEntities(jobs: readonly EntityEmbeddingJob[]): Promise<void> {
    if (jobs.length === 0) return;
    await this.queue.addBulk(
      jobs.map((data) => ({
        name: ENTITY_EMBEDDING_JOB,
        data: data as unknown as ItemEmbeddingJob,
        opts: { jobId: entityEmbeddingJobId(data) },
      })),
    );
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
