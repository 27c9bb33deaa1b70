import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { createKafka } from '@mmctr/kafka';
import { ItemEmbeddingQueue, createRedis, onlineStoreFromConfig } from '@mmctr/online-store';
import { DeadLetterRepository } from './dead-letter.repository';
import { FlowControl } from './flow-control';
import { IngestConsumer } from './ingest-consumer.service';
import { IngestPipeline } from './ingest-pipeline.service';
import { IngestRepository } from './ingest.repository';
import { EMBEDDING_QUEUE, KAFKA, ONLINE_STORE, REDIS } from './tokens';

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
      provide: EMBEDDING_QUEUE,
      inject: [REDIS, APP_CONFIG],
      // BullMQ gets a connection of its own (it may block on it).
      useFactory: (redis: Redis, c: AppConfig) =>
        new ItemEmbeddingQueue(redis.duplicate(), { name: c.EMBEDDINGS_QUEUE, prefix: c.BULLMQ_PREFIX }),
    },
    FlowControl,
    IngestRepository,
    DeadLetterRepository,
    IngestPipeline,
    IngestConsumer,
  ],
  exports: [IngestConsumer, REDIS],
})
export class IngestModule implements OnApplicationShutdown {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(EMBEDDING_QUEUE) private readonly queue: ItemEmbeddingQueue,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close();
    await this.queue.queue.client.then((c) => c.quit()).catch(() => undefined);
    await this.redis.quit().catch(() => undefined);
  }
}
