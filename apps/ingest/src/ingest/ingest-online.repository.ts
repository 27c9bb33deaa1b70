import { Inject, Injectable, Optional, type OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import type { CatalogueItem } from '@mmctr/contracts';
import type { AggregateCounters, CountedEvent } from '@mmctr/aggregates';
import { entityEmbeddingWork, type EntityEmbeddingSpec, type NormalisedRecord } from '@mmctr/feature-repo';
import {
  redisHealth,
  type BehaviourList,
  type BehaviourRecord,
  type EntityEmbeddingJob,
  type ItemEmbeddingQueue,
  type OnlineStore,
} from '@mmctr/online-store';
import type { EntityStream } from './ingest-schema';
import { AGGREGATE_COUNTERS, EMBEDDING_QUEUE, ONLINE_STORE, REDIS } from './tokens';

/**
 * What ingest writes to Redis: behaviour lists, windowed aggregate counters, item features and their
 * embedding jobs, and the hash of every other snapshot entity.
 */
@Injectable()
export class IngestOnlineRepository implements OnApplicationShutdown {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(ONLINE_STORE) private readonly store: OnlineStore,
    @Inject(EMBEDDING_QUEUE) private readonly embeddings: ItemEmbeddingQueue,
    // Optional: tools and tests that build this repository for lists and items alone count nothing.
    @Optional() @Inject(AGGREGATE_COUNTERS) private readonly counters?: AggregateCounters,
  ) {}

  /** Whether the repository declares aggregations that count events. */
  get countsAggregates(): boolean {
    return this.counters?.active ?? false;
  }

  /** Increments the aggregations' counters; a redelivered event changes nothing. */
  async countAggregates(events: readonly NormalisedRecord[]): Promise<void> {
    await this.counters?.record(events as unknown as readonly CountedEvent[]);
  }

  async recordBehaviour(events: readonly NormalisedRecord[], lists: readonly BehaviourList[]): Promise<void> {
    await this.store.recordLists(events as unknown as readonly BehaviourRecord[], lists);
  }

  /**
   * Embedding jobs of the entity's declared embeddings are enqueued before the hash is written (a crash
   * between the two repeats them on redelivery; the job ids make repeats no-ops).
   */
  async upsertEntities(stream: EntityStream, records: readonly NormalisedRecord[]): Promise<void> {
    if (stream.embeddings.length > 0)
      await this.embeddings.enqueueEntities(entityEmbeddingJobs(stream.embeddings, records));
    await this.store.upsertEntities(stream.entity.name, stream.entity.key, stream.attributes, records);
  }

  /** Embedding jobs of new or changed items are enqueued before the features are written. */
  async upsertItems(items: readonly CatalogueItem[]): Promise<void> {
    await this.store.upsertItems(items, (changed) => this.embeddings.enqueue(changed));
  }

  ping(): Promise<{ ok: boolean; error?: string }> {
    return redisHealth(this.redis);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.embeddings.close();
    await this.embeddings.queue.client.then((c) => c.quit()).catch(() => undefined);
    await this.redis.quit().catch(() => undefined);
  }
}

/** One job per embedding and record: the record's input values and their hash. */
export function entityEmbeddingJobs(
  specs: readonly EntityEmbeddingSpec[],
  records: readonly NormalisedRecord[],
): EntityEmbeddingJob[] {
  return specs.flatMap((spec) => records.map((r) => entityEmbeddingWork(spec, r)));
}
