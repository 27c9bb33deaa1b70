import { Module } from '@nestjs/common';
import type Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { ClickHouseService } from '@mmctr/clickhouse';
import { FEATURE_REPO, assertRunningRepositoryApplied, type FeatureRepo } from '@mmctr/feature-repo';
import { createKafka } from '@mmctr/kafka';
import {
  ItemEmbeddingQueue,
  createRedis,
  onlineStoreFromConfig,
  type OnlineStore,
} from '@mmctr/online-store';
import { AggregateCounters } from '@mmctr/aggregates';
import { DeadLetterRepository } from './dead-letter.repository';
import { FlowControl } from './flow-control';
import { IngestConsumer } from './ingest-consumer.service';
import { IngestKafkaRepository } from './ingest-kafka.repository';
import { IngestOnlineRepository } from './ingest-online.repository';
import { IngestPipeline } from './ingest-pipeline.service';
import { isCatalogue, loadIngestSchema } from './ingest-schema';
import { IngestRepository } from './ingest.repository';
import { AGGREGATE_COUNTERS, EMBEDDING_QUEUE, INGEST_SCHEMA, KAFKA, ONLINE_STORE, REDIS } from './tokens';

@Module({
  providers: [
    { provide: KAFKA, inject: [APP_CONFIG], useFactory: (c: AppConfig) => createKafka(c) },
    { provide: REDIS, inject: [APP_CONFIG], useFactory: (c: AppConfig) => createRedis(c) },
    {
      provide: ONLINE_STORE,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: Redis, c: AppConfig) => onlineStoreFromConfig(redis, c),
    },
    {
      // Composite aggregation keys read entity attributes from the hashes this same ingest writes.
      provide: AGGREGATE_COUNTERS,
      inject: [REDIS, FEATURE_REPO, APP_CONFIG, ONLINE_STORE],
      useFactory: (redis: Redis, repo: FeatureRepo, c: AppConfig, store: OnlineStore) =>
        new AggregateCounters(redis, repo, {
          keyPrefix: c.REDIS_KEY_PREFIX,
          minTtlMs: c.AGGREGATE_MIN_TTL_MS,
          entityHash: {
            key: (entity, id) =>
              isCatalogue({ name: entity }) ? store.itemKey(id) : store.entityKey(entity, id),
            decode: (entity, raw) => (isCatalogue({ name: entity }) ? raw : (JSON.parse(raw) as string)),
          },
        }),
    },
    {
      provide: EMBEDDING_QUEUE,
      inject: [REDIS, APP_CONFIG],
      // BullMQ gets a connection of its own (it may block on it). fromConfig hash-tags the prefix on a
      // Redis Cluster: BullMQ's scripts touch several keys of the queue, which must share a slot.
      useFactory: (redis: Redis, c: AppConfig) => ItemEmbeddingQueue.fromConfig(redis.duplicate(), c),
    },
    {
      // Contracts and row encoders, compiled once from the repository and the tables' columns. A missing
      // column fails first (it names the column); then the ledger must record the running version.
      provide: INGEST_SCHEMA,
      inject: [FEATURE_REPO, APP_CONFIG, IngestRepository, ClickHouseService],
      useFactory: async (
        repo: FeatureRepo,
        c: AppConfig,
        tables: IngestRepository,
        ch: ClickHouseService,
      ) => {
        const schema = await loadIngestSchema(repo, c, (table) => tables.columns(table));
        await assertRunningRepositoryApplied(ch, c, repo);
        return schema;
      },
    },
    FlowControl,
    IngestRepository,
    IngestOnlineRepository,
    DeadLetterRepository,
    IngestKafkaRepository,
    IngestPipeline,
    IngestConsumer,
  ],
  exports: [IngestConsumer, IngestKafkaRepository, IngestRepository, IngestOnlineRepository],
})
export class IngestModule {}
