import { hostname } from 'node:os';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import type { NormalisedRecord } from '@mmctr/feature-repo';
import type { FetchedBatch } from '@mmctr/kafka';
import { LOGGER } from '../logger';
import { IngestMetrics } from '../metrics/ingest-metrics.service';
import { Batcher } from './batcher';
import { chunkRows, type PartitionChunk } from './chunk';
import { DeadLetterRepository } from './dead-letter.repository';
import { FlowControl } from './flow-control';
import { IngestKafkaRepository } from './ingest-kafka.repository';
import { IngestPipeline, type StoreResult } from './ingest-pipeline.service';
import type { IngestSchema, Stream } from './ingest-schema';
import { routeMessages } from './message-router';
import { INGEST_SCHEMA } from './tokens';

type RecordBatcher = Batcher<PartitionChunk<NormalisedRecord>, StoreResult>;

/**
 * The Kafka side of ingest: each fetched partition batch of the events topic and of each snapshot
 * entity's topic is checked against its compiled contract and queued; the batchers flush to the pipeline and, only after a flush is stored, commit its offsets
 * through the group member (IngestKafkaRepository), which never commits ranges of a revoked partition
 * or an older generation. Fetching continues while a flush is stored, up to INGEST_MAX_PENDING_ROWS;
 * a failing store pauses the topics.
 */
@Injectable()
export class IngestConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly name = `${hostname()}-${process.pid}`;
  /** One batcher per consumed topic, with the stream it stores. */
  private readonly batchers = new Map<string, { stream: Stream; batcher: RecordBatcher }>();

  constructor(
    private readonly source: IngestKafkaRepository,
    private readonly pipeline: IngestPipeline,
    private readonly flow: FlowControl,
    private readonly dlq: DeadLetterRepository,
    @Inject(INGEST_SCHEMA) schema: IngestSchema,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: IngestMetrics,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    const opts = {
      maxRows: config.INGEST_BATCH_MAX_ROWS,
      maxWaitMs: config.INGEST_BATCH_MAX_WAIT_MS,
      maxPendingRows: config.INGEST_MAX_PENDING_ROWS,
    };
    // Event flushes overlap (each insert mostly waits on ClickHouse); their commits stay in order.
    const events = new Batcher(
      { ...opts, maxConcurrentFlushes: config.INGEST_MAX_CONCURRENT_FLUSHES },
      (chunks: PartitionChunk<NormalisedRecord>[]) => this.pipeline.storeEvents(chunks),
      (chunks, stored) => this.commitFlush(chunks, stored),
    );
    this.batchers.set(schema.events.topic, { stream: schema.events, batcher: events });
    // Snapshot flushes stay one at a time: they are rare, and each plans against what the last stored.
    for (const stream of schema.entities) {
      const batcher = new Batcher(
        opts,
        (chunks: PartitionChunk<NormalisedRecord>[]) => this.pipeline.storeEntities(stream, chunks),
        (chunks, stored) => this.commitFlush(chunks, stored),
      );
      this.batchers.set(stream.topic, { stream, batcher });
    }
    this.flow.onChange((paused) => this.onFlowChange(paused));
  }

  /**
   * Readiness of consumption: not stalled (no commit for INGEST_STALL_TIMEOUT_MS while messages wait)
   * and no store failing for longer than INGEST_STORE_RETRY_DEADLINE_MS. Retries go on either way.
   */
  health(now = Date.now()): {
    consumption: { ok: boolean; sinceProgressMs: number; pendingRows: number; lag: number };
    stores: { ok: boolean; failing: { target: string; failingMs: number }[] };
  } {
    const failing = this.flow.failingLongerThan(this.config.INGEST_STORE_RETRY_DEADLINE_MS, now);
    return {
      consumption: {
        ...this.source.consumption(now),
        pendingRows: this.all().reduce((n, b) => n + b.pendingRows, 0),
      },
      stores: { ok: failing.length === 0, failing },
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    const created = await this.source.ensureTopics();
    if (created.length > 0) this.log.info({ created }, 'created topics');
    await this.dlq.connect();
    await this.source.start(
      (batch) => this.handleBatch(batch),
      () => this.all().some((b) => b.busy),
    );
    this.log.info(
      {
        topics: [...this.batchers.keys()],
        groupId: this.config.INGEST_GROUP_ID,
      },
      'ingest consumer started',
    );
  }

  private async handleBatch(batch: FetchedBatch): Promise<void> {
    const { topic, partition, messages } = batch;
    this.metrics.lag.set({ topic, partition: String(partition) }, batch.lag);
    this.metrics.consumed.inc({ topic }, messages.length);
    const base = {
      topic,
      partition,
      firstOffset: batch.firstOffset,
      lastOffset: batch.lastOffset,
      generation: batch.generation,
    };
    const target = this.batchers.get(topic);
    if (!target) throw new Error(`ingest: no stream for topic ${topic}`);
    const routed = routeMessages(target.stream.check, topic, partition, messages);
    const chunk = { ...base, ...routed, validOffsets: this.validOffsets(messages, routed) };
    this.countInvalid(topic, chunk.invalid.length);
    await batch.heartbeatWhile(target.batcher.add(chunk, chunkRows(chunk)));
  }

  private all(): RecordBatcher[] {
    return [...this.batchers.values()].map((b) => b.batcher);
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
  private async commitFlush(chunks: PartitionChunk<NormalisedRecord>[], stored: StoreResult): Promise<void> {
    await this.commit(chunks);
    this.pipeline.logBatches(this.name, chunks, stored.insertMs);
  }

  private async commit(chunks: readonly PartitionChunk<unknown>[]): Promise<void> {
    const { result, skipped } = await this.source.commit(chunks);
    if (skipped > 0) this.metrics.commits.inc({ result: 'skipped' }, skipped);
    if (result !== 'none') this.metrics.commits.inc({ result });
  }

  private onFlowChange(paused: boolean): void {
    this.metrics.paused.set(paused ? 1 : 0);
    this.source.setPaused(paused);
    if (paused) this.log.warn({ failing: this.flow.failingTargets }, 'consumption paused');
    else this.log.info('consumption resumed');
  }

  /** SIGTERM: stop taking batches, store and commit what is queued, then leave the group. */
  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.log.info({ signal }, 'shutting down: flushing queued batches');
    await this.source.stop(() => this.drain());
    await this.dlq.disconnect();
    this.log.info('ingest consumer stopped');
  }

  /** Stores and commits what the batchers hold; past INGEST_SHUTDOWN_GRACE_MS store retries give up. */
  private async drain(): Promise<void> {
    const abandon = setTimeout(() => {
      this.log.error(
        'shutdown grace period over: abandoning store retries (uncommitted data is redelivered)',
      );
      this.pipeline.abandonRetries();
    }, this.config.INGEST_SHUTDOWN_GRACE_MS);
    try {
      await Promise.all(this.all().map((b) => b.drain()));
      await this.pipeline.flushBatchLog();
      this.log.info('queued batches stored and committed');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'flush at shutdown failed');
    } finally {
      clearTimeout(abandon);
    }
  }
}
