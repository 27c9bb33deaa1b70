import { hostname } from 'node:os';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import { ensureTopics, platformTopics } from '@mmctr/kafka';
import { LOGGER } from '../logger';
import { IngestMetrics } from '../metrics/ingest-metrics.service';
import { Batcher } from './batcher';
import { chunkRows, offsetsToCommit, type PartitionChunk } from './chunk';
import { DeadLetterRepository } from './dead-letter.repository';
import { FlowControl } from './flow-control';
import { IngestPipeline, type StoreResult } from './ingest-pipeline.service';
import { routeMessages } from './message-router';
import { KAFKA } from './tokens';

const HEARTBEAT_EVERY_MS = 3_000;

/** Waits for `work`, heartbeating meanwhile so a long store retry does not get us kicked from the group. */
async function withHeartbeat(work: Promise<void>, heartbeat: () => Promise<void>): Promise<void> {
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const tick = new Promise<false>(
      (resolve) => (timer = setTimeout(() => resolve(false), HEARTBEAT_EVERY_MS)),
    );
    const done = await Promise.race([work.then(() => true), tick]);
    clearTimeout(timer);
    if (done) return;
    // A failed heartbeat means a rebalance is under way; kafkajs rejoins after this batch returns.
    await heartbeat().catch(() => undefined);
  }
}

/**
 * The Kafka side of ingest: a consumer group on the events and items topics. eachBatch routes each
 * partition's messages and queues them; the batchers flush to the pipeline and, only after a flush
 * is stored, commit its offsets (autoCommit is off). Fetching continues while a flush is stored, up
 * to INGEST_MAX_PENDING_ROWS; a failing store pauses the topics.
 */
@Injectable()
export class IngestConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly name = `${hostname()}-${process.pid}`;
  private consumer: Consumer | undefined;
  private generation = 0;
  private assignment: Record<string, number[]> = {};
  private joined = false;
  private stopping = false;
  /** Last commit, or when work arrived while there was none: the clock of the stall check. */
  private progressAt = Date.now();
  /** Lag (high watermark - last fetched offset) of each partition at its last fetch. */
  private readonly lagByPartition = new Map<string, number>();
  private readonly events: Batcher<PartitionChunk<BehaviourEvent>, StoreResult>;
  private readonly items: Batcher<PartitionChunk<CatalogueItem>, StoreResult>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(IngestMetrics) private readonly metrics: IngestMetrics,
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(IngestPipeline) private readonly pipeline: IngestPipeline,
    @Inject(FlowControl) private readonly flow: FlowControl,
    @Inject(DeadLetterRepository) private readonly dlq: DeadLetterRepository,
  ) {
    const opts = {
      maxRows: config.INGEST_BATCH_MAX_ROWS,
      maxWaitMs: config.INGEST_BATCH_MAX_WAIT_MS,
      maxPendingRows: config.INGEST_MAX_PENDING_ROWS,
    };
    // Event flushes overlap (each insert mostly waits on ClickHouse); their commits stay in order.
    this.events = new Batcher(
      { ...opts, maxConcurrentFlushes: config.INGEST_MAX_CONCURRENT_FLUSHES },
      (chunks) => this.pipeline.storeEvents(chunks),
      (chunks, stored) => this.commitFlush(chunks, stored),
    );
    // Catalogue flushes stay one at a time: they are rare, and each plans against what the last stored.
    this.items = new Batcher(
      opts,
      (chunks) => this.pipeline.storeItems(chunks),
      (chunks, stored) => this.commitFlush(chunks, stored),
    );
    this.flow.onChange((paused) => this.onFlowChange(paused));
  }

  /** Ready for traffic: member of the group and not shutting down. */
  get ready(): boolean {
    return this.joined && !this.stopping;
  }

  /** Messages fetched but not committed, or known to wait on the broker. */
  private get hasWork(): boolean {
    if (this.events.busy || this.items.busy) return true;
    for (const lag of this.lagByPartition.values()) if (lag > 0) return true;
    return false;
  }

  /**
   * Readiness of consumption: not stalled (no commit for INGEST_STALL_TIMEOUT_MS while messages wait)
   * and no store failing for longer than INGEST_STORE_RETRY_DEADLINE_MS. Retries go on either way.
   */
  health(now = Date.now()): {
    consumption: { ok: boolean; sinceProgressMs: number; pendingRows: number; lag: number };
    stores: { ok: boolean; failing: { target: string; failingMs: number }[] };
  } {
    const busy = this.hasWork;
    if (!busy) this.progressAt = now;
    const sinceProgressMs = now - this.progressAt;
    let lag = 0;
    for (const l of this.lagByPartition.values()) lag += l;
    const failing = this.flow.failingLongerThan(this.config.INGEST_STORE_RETRY_DEADLINE_MS, now);
    return {
      consumption: {
        ok: !busy || sinceProgressMs <= this.config.INGEST_STALL_TIMEOUT_MS,
        sinceProgressMs,
        pendingRows: this.events.pendingRows + this.items.pendingRows,
        lag,
      },
      stores: { ok: failing.length === 0, failing },
    };
  }

  private get topics(): string[] {
    return [this.config.KAFKA_TOPIC_EVENTS, this.config.KAFKA_TOPIC_ITEMS];
  }

  async onApplicationBootstrap(): Promise<void> {
    const wanted = new Set([...this.topics, this.config.KAFKA_TOPIC_DLQ]);
    const created = await ensureTopics(
      this.kafka,
      platformTopics(this.config).filter((t) => wanted.has(t.topic)),
    );
    if (created.length > 0) this.log.info({ created }, 'created topics');
    await this.dlq.connect();

    const consumer = this.kafka.consumer({
      groupId: this.config.INGEST_GROUP_ID,
      maxBytesPerPartition: this.config.INGEST_FETCH_MAX_BYTES_PER_PARTITION,
      maxWaitTimeInMs: 1_000,
      sessionTimeout: 30_000,
      heartbeatInterval: HEARTBEAT_EVERY_MS,
      allowAutoTopicCreation: false,
      // Never give up consuming: a crashed consumer restarts instead of leaving the process idle.
      retry: { retries: 10, restartOnFailure: async () => true },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.REBALANCING, () => {
      // Anything fetched before the rebalance must not be committed by us any more.
      this.generation++;
      this.joined = false;
      this.lagByPartition.clear();
      this.log.info('consumer group rebalancing');
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.generation++;
      this.assignment = payload.memberAssignment;
      this.joined = true;
      this.progressAt = Date.now();
      this.log.info(
        { assignment: payload.memberAssignment, groupId: payload.groupId },
        'consumer group joined',
      );
      if (this.flow.paused) consumer.pause(this.topics.map((topic) => ({ topic })));
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.joined = false;
      this.log.error({ err: payload.error.message, restart: payload.restart }, 'consumer crashed');
    });

    await consumer.connect();
    // A new group starts at the beginning: events produced before ingest first ran are not skipped.
    await consumer.subscribe({ topics: this.topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true, // moves the fetch position only; commits are ours
      partitionsConsumedConcurrently: 16,
      eachBatch: (payload) => this.handleBatch(payload),
    });
    this.log.info({ topics: this.topics, groupId: this.config.INGEST_GROUP_ID }, 'ingest consumer started');
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const heartbeat = () => payload.heartbeat();
    // Not queued means not committed: whatever is skipped here is redelivered.
    if (this.stopping || !payload.isRunning() || payload.isStale()) return;
    const { topic, partition, messages } = batch;
    const lag = Number(batch.offsetLag());
    this.metrics.lag.set({ topic, partition: String(partition) }, lag);
    const first = messages[0];
    const last = messages[messages.length - 1];
    if (!first || !last) return;
    if (!this.hasWork) this.progressAt = Date.now();
    this.lagByPartition.set(`${topic}\u0000${partition}`, lag);
    this.metrics.consumed.inc({ topic }, messages.length);
    const isItems = topic === this.config.KAFKA_TOPIC_ITEMS;
    const base = {
      topic,
      partition,
      firstOffset: first.offset,
      lastOffset: last.offset,
      generation: this.generation,
    };
    if (isItems) {
      const routed = routeMessages('item', topic, partition, messages);
      const chunk = { ...base, ...routed, validOffsets: this.validOffsets(messages, routed) };
      this.countInvalid(topic, chunk.invalid.length);
      await withHeartbeat(this.items.add(chunk, chunkRows(chunk)), heartbeat);
    } else {
      const routed = routeMessages('event', topic, partition, messages);
      const chunk = { ...base, ...routed, validOffsets: this.validOffsets(messages, routed) };
      this.countInvalid(topic, chunk.invalid.length);
      await withHeartbeat(this.events.add(chunk, chunkRows(chunk)), heartbeat);
    }
  }

  /** The offsets of the routed valid records: the router keeps message order and dead-letters the rest. */
  private validOffsets(
    messages: readonly { offset: string }[],
    routed: { valid: readonly unknown[]; invalid: readonly { offset: string }[] },
  ): string[] {
    if (routed.invalid.length === 0 && routed.valid.length === messages.length)
      return messages.map((m) => m.offset);
    const invalid = new Set(routed.invalid.map((d) => d.offset));
    const offsets = messages.filter((m) => !invalid.has(m.offset)).map((m) => m.offset);
    if (offsets.length !== routed.valid.length) {
      // Only used to name a refused row's origin in its dead letter.
      this.log.error(
        { messages: messages.length, valid: routed.valid.length },
        'cannot match records to offsets',
      );
      return [];
    }
    return offsets;
  }

  private countInvalid(topic: string, n: number): void {
    if (n > 0) this.metrics.invalid.inc({ topic }, n);
  }

  /** After a flush is stored (and every earlier flush committed): its offsets, then its telemetry. */
  private async commitFlush(chunks: PartitionChunk<{ ts_ms: number }>[], stored: StoreResult): Promise<void> {
    await this.commit(chunks);
    this.pipeline.logBatches(this.name, chunks, stored.insertMs);
  }

  private async commit(chunks: readonly PartitionChunk<unknown>[]): Promise<void> {
    const { commit, skipped } = offsetsToCommit(
      chunks,
      this.generation,
      (topic, partition) => this.assignment[topic]?.includes(partition) ?? false,
    );
    if (skipped > 0) {
      this.metrics.commits.inc({ result: 'skipped' }, skipped);
      this.log.info({ skipped }, 'not committing chunks of revoked partitions or an older generation');
    }
    if (commit.length === 0 || !this.consumer) return;
    try {
      await this.consumer.commitOffsets(commit);
      this.progressAt = Date.now();
      this.metrics.commits.inc({ result: 'ok' });
    } catch (err) {
      // The data is stored; an uncommitted offset only means a harmless redelivery.
      this.metrics.commits.inc({ result: 'failed' });
      this.log.warn({ err: (err as Error).message, commit }, 'offset commit failed');
    }
  }

  private onFlowChange(paused: boolean): void {
    this.metrics.paused.set(paused ? 1 : 0);
    if (!this.consumer) return;
    const topics = this.topics.map((topic) => ({ topic }));
    if (paused) {
      this.consumer.pause(topics);
      this.log.warn({ failing: this.flow.failingTargets }, 'consumption paused');
    } else if (!this.stopping) {
      this.consumer.resume(topics);
      this.log.info('consumption resumed');
    }
  }

  /** SIGTERM: stop taking batches, store and commit what is queued, then leave the group. */
  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.stopping = true;
    this.log.info({ signal }, 'shutting down: flushing queued batches');
    this.consumer?.pause(this.topics.map((topic) => ({ topic })));
    const abandon = setTimeout(() => {
      this.log.error(
        'shutdown grace period over: abandoning store retries (uncommitted data is redelivered)',
      );
      this.pipeline.abandonRetries();
    }, this.config.INGEST_SHUTDOWN_GRACE_MS);
    try {
      await Promise.all([this.events.drain(), this.items.drain()]);
      await this.pipeline.flushBatchLog();
      this.log.info('queued batches stored and committed');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'flush at shutdown failed');
    } finally {
      clearTimeout(abandon);
    }
    await this.consumer?.disconnect();
    await this.dlq.disconnect();
    this.log.info('ingest consumer stopped');
  }
}
