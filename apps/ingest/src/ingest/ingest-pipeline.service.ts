import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import type { ItemEmbeddingQueue, OnlineStore } from '@mmctr/online-store';
import { LOGGER } from '../logger';
import { IngestMetrics } from '../metrics/ingest-metrics.service';
import type { PartitionChunk } from './chunk';
import { DeadLetterRepository } from './dead-letter.repository';
import { FlowControl } from './flow-control';
import { IngestRepository, type IngestBatchRow } from './ingest.repository';
import { encodeEvents, epochSeconds, itemRow } from './row-mappers';
import { retryForever } from './retry';
import { EMBEDDING_QUEUE, ONLINE_STORE } from './tokens';

export interface StoreResult {
  rows: number;
  invalid: number;
  insertMs: number;
}

/**
 * Stores one flush: the ClickHouse insert, the dead letters and the Redis online store. Each step retries with backoff until it succeeds (pausing consumption meanwhile) or ingest
 * shuts down; the caller commits offsets only after this resolves.
 */
@Injectable()
export class IngestPipeline {
  private stopping = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(IngestMetrics) private readonly metrics: IngestMetrics,
    @Inject(IngestRepository) private readonly repo: IngestRepository,
    @Inject(DeadLetterRepository) private readonly dlq: DeadLetterRepository,
    @Inject(ONLINE_STORE) private readonly online: OnlineStore,
    @Inject(EMBEDDING_QUEUE) private readonly embeddings: ItemEmbeddingQueue,
    @Inject(FlowControl) private readonly flow: FlowControl,
  ) {}

  /** After this, failing steps stop retrying (their data stays uncommitted and is redelivered). */
  abandonRetries(): void {
    this.stopping = true;
  }

  async storeEvents(chunks: readonly PartitionChunk<BehaviourEvent>[]): Promise<StoreResult> {
    const nowS = epochSeconds(Date.now());
    const events = chunks.flatMap((c) => c.valid);
    const body = encodeEvents(events, nowS);
    // The three writes are independent and idempotent, so they run side by side; the caller commits
    // only after all of them succeeded.
    const [insertMs] = await Promise.all([
      this.insert('events', () => this.repo.insertEvents(body), events.length),
      this.deadLetter('events', chunks),
      this.step('redis', 'events', () => this.online.recordBehaviour(events)),
    ]);
    return { rows: events.length, invalid: chunks.reduce((n, c) => n + c.invalid.length, 0), insertMs };
  }

  async storeItems(chunks: readonly PartitionChunk<CatalogueItem>[]): Promise<StoreResult> {
    const nowS = epochSeconds(Date.now());
    const items = chunks.flatMap((c) => c.valid);
    const rows = items.map((i) => itemRow(i, nowS));
    const [insertMs] = await Promise.all([
      this.insert('items', () => this.repo.insertItems(rows), rows.length),
      this.deadLetter('items', chunks),
      // Embedding jobs are enqueued before the features are written (see OnlineStore.upsertItems).
      this.step('redis', 'items', () =>
        this.online.upsertItems(items, (changed) => this.embeddings.enqueue(changed)),
      ),
    ]);
    return { rows: rows.length, invalid: chunks.reduce((n, c) => n + c.invalid.length, 0), insertMs };
  }

  private batchLog: Promise<void> = Promise.resolve();

  /**
   * One ingest_batches row per stored partition chunk, written off the flush path (one at a time).
   * Best effort: it is telemetry, not data.
   */
  logBatches(consumer: string, chunks: readonly PartitionChunk<{ ts_ms: number }>[], insertMs: number): void {
    this.batchLog = this.batchLog.then(() => this.writeBatchLog(consumer, chunks, insertMs));
  }

  /** Resolves when the ingest_batches rows queued so far are written. */
  flushBatchLog(): Promise<void> {
    return this.batchLog;
  }

  private async writeBatchLog(
    consumer: string,
    chunks: readonly PartitionChunk<{ ts_ms: number }>[],
    insertMs: number,
  ) {
    const now = Date.now();
    const rows: IngestBatchRow[] = chunks.map((c) => ({
      ts_ms: now,
      event_time: epochSeconds(now),
      consumer,
      topic: c.topic,
      partition: c.partition,
      first_offset: Number(c.firstOffset),
      last_offset: Number(c.lastOffset),
      rows: c.valid.length,
      invalid: c.invalid.length,
      insert_ms: Math.round(insertMs),
      max_event_lag_ms: c.valid.reduce((m, r) => Math.max(m, now - r.ts_ms), 0),
    }));
    try {
      await this.repo.insertBatchLog(rows);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not write ingest_batches rows');
    }
  }

  private async insert(table: string, fn: () => Promise<void>, rows: number): Promise<number> {
    if (rows === 0) return 0;
    let ms = 0;
    await this.step('clickhouse', table, async () => {
      const t0 = performance.now();
      await fn();
      ms = performance.now() - t0;
    });
    this.metrics.insertSeconds.observe({ table }, ms / 1000);
    this.metrics.batchRows.observe({ table }, rows);
    this.metrics.stored.inc({ table }, rows);
    return ms;
  }

  private async deadLetter(kind: string, chunks: readonly PartitionChunk<unknown>[]): Promise<void> {
    const letters = chunks.flatMap((c) => c.invalid);
    if (letters.length === 0) return;
    await this.step('kafka-dlq', kind, () => this.dlq.send(letters));
    for (const l of letters) this.metrics.deadLettered.inc({ topic: l.topic });
  }

  /** `kind` keeps the events and items flushes apart: one recovering must not resume the other. */
  private async step<T>(target: string, kind: string, fn: () => Promise<T>): Promise<T> {
    const key = `${target}:${kind}`;
    const result = await retryForever(fn, {
      initialMs: this.config.INGEST_RETRY_INITIAL_MS,
      maxMs: this.config.INGEST_RETRY_MAX_MS,
      giveUp: () => this.stopping,
      onRetry: (err, attempt, waitMs) => {
        this.metrics.retries.inc({ target });
        this.flow.fail(key);
        this.log.warn(
          { target, attempt, waitMs, err: (err as Error).message, code: (err as { code?: unknown }).code },
          'store failed; consumption paused, retrying',
        );
      },
    });
    if (this.flow.failingTargets.includes(key)) {
      this.flow.ok(key);
      this.log.info({ target, kind }, 'store recovered');
    }
    return result;
  }
}
