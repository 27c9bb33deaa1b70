import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import type Redis from 'ioredis';
import type { Admin } from 'kafkajs';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { consumerGroupLag, createKafka } from '@mmctr/kafka';
import { createBullRedis, embeddingQueueRef } from '@mmctr/online-store';

export interface QueueDepth {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
}

/** Live pipeline state: the ingest group's Kafka lag and the embedding queue's depth. */
@Injectable()
export class PipelineStateRepository implements OnApplicationShutdown {
  private readonly admin: Admin;
  private adminConnected: Promise<void> | null = null;
  private readonly queue: Queue;
  private readonly redis: Redis;
  private readonly logger = new Logger(PipelineStateRepository.name);

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.admin = createKafka(config).admin();
    // The queue the embedder consumes: same name, prefix and Redis connection settings.
    const { name, prefix } = embeddingQueueRef(config);
    this.redis = createBullRedis(config, { blocking: false });
    this.queue = new Queue(name, { connection: this.redis, prefix });
    // BullMQ re-emits its connection's errors on the queue ("Connection is closed" when shutdown overtakes
    // its connect); unlistened, Node throws them. A failed depth read reports itself on the next sample.
    this.queue.on('error', (err) => this.logger.warn(`embeddings queue: ${err.message}`));
  }

  /** Messages the ingest consumer group has not committed yet, summed over its topics' partitions. */
  async ingestLag(): Promise<number> {
    this.adminConnected ??= this.admin.connect();
    await this.adminConnected;
    return consumerGroupLag(this.admin, this.config.INGEST_GROUP_ID, [
      this.config.KAFKA_TOPIC_EVENTS,
      this.config.KAFKA_TOPIC_ITEMS,
    ]);
  }

  async queueDepth(): Promise<QueueDepth> {
    const c = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
    return {
      waiting: c.waiting ?? 0,
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      failed: c.failed ?? 0,
      completed: c.completed ?? 0,
    };
  }

  async onApplicationShutdown(): Promise<void> {
    // A queue closed before its connection is ready rejects its init after close() has dropped the
    // listeners, and Node throws that unlistened "Connection is closed": let the init settle first.
    await Promise.race([
      this.queue.waitUntilReady().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, 2_000).unref()),
    ]);
    await this.queue.close();
    this.redis.disconnect(); // a connection the queue was given is not the queue's to close
    if (this.adminConnected) await this.admin.disconnect();
  }
}
