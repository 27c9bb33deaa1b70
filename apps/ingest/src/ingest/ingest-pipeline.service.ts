import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import type { CatalogueItem } from '@mmctr/contracts';
import type { NormalisedRecord, RowEncoder } from '@mmctr/feature-repo';
import { refusedRowReason, type IsolationResult, type RejectedRow } from '@mmctr/clickhouse';
import { retryForever, type DeadLetterInput, type RetryOptions } from '@mmctr/kafka';
import { LOGGER } from '../logger';
import { IngestMetrics } from '../metrics/ingest-metrics.service';
import type { PartitionChunk } from './chunk';
import { DeadLetterRepository } from './dead-letter.repository';
import { FlowControl } from './flow-control';
import { IngestOnlineRepository } from './ingest-online.repository';
import type { EntityStream, IngestSchema } from './ingest-schema';
import { IngestRepository, type IngestBatchRow } from './ingest.repository';
import { INGEST_SCHEMA } from './tokens';

const epochSeconds = (ms: number): number => Math.floor(ms / 1000);

export interface StoreResult {
  rows: number;
  invalid: number;
  /** Rows ClickHouse refused for their data (dead-lettered, not in Redis either). */
  rejected: number;
  insertMs: number;
}

/**
 * Stores one flush. First the ClickHouse insert: a batch the server refuses for its data is bisected
 * and each refused row set aside. Then, side by side, the dead letters (invalid messages and refused
 * rows) and the Redis online store (the accepted records only, so Redis never holds what ClickHouse
 * lacks). Each step retries failures that are not the rows' fault with backoff, pausing consumption
 * meanwhile, until it succeeds or ingest shuts down; the caller commits offsets only after this resolves.
 */
@Injectable()
export class IngestPipeline {
  private stopping = false;
  /** How a failing step backs off: the only settings the pipeline reads. */
  private readonly backoff: Pick<RetryOptions, 'initialMs' | 'maxMs'>;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly metrics: IngestMetrics,
    private readonly repo: IngestRepository,
    private readonly dlq: DeadLetterRepository,
    private readonly online: IngestOnlineRepository,
    private readonly flow: FlowControl,
    @Inject(INGEST_SCHEMA) private readonly schema: IngestSchema,
  ) {
    this.backoff = { initialMs: config.INGEST_RETRY_INITIAL_MS, maxMs: config.INGEST_RETRY_MAX_MS };
  }

  /** After this, failing steps stop retrying (their data stays uncommitted and is redelivered). */
  abandonRetries(): void {
    this.stopping = true;
  }

  async storeEvents(chunks: readonly PartitionChunk<NormalisedRecord>[]): Promise<StoreResult> {
    const { encoder } = this.schema.events;
    const { accepted, letters, result } = await this.storeRows(chunks, encoder);
    await Promise.all([
      this.deadLetter('events', letters),
      this.step('redis', 'events', () => this.online.recordBehaviour(accepted, this.schema.lists)),
      this.countAggregates(accepted),
    ]);
    return result;
  }

  /** Its own retry key: counters that fail must not stall or resume the behaviour lists. */
  private async countAggregates(accepted: readonly NormalisedRecord[]): Promise<void> {
    if (!this.online.countsAggregates) return;
    await this.step('redis', 'aggregates', () => this.online.countAggregates(accepted));
  }

  /** Snapshots of one entity: its table, then its online hash (the demo item: item hash + embedding jobs). */
  async storeEntities(
    stream: EntityStream,
    chunks: readonly PartitionChunk<NormalisedRecord>[],
  ): Promise<StoreResult> {
    const kind = stream.encoder.table;
    const { accepted, letters, result } = await this.storeRows(chunks, stream.encoder);
    await Promise.all([
      this.deadLetter(kind, letters),
      this.step('redis', kind, () =>
        stream.catalogue
          ? this.online.upsertItems(accepted as unknown as CatalogueItem[])
          : this.online.upsertEntities(stream, accepted),
      ),
    ]);
    return result;
  }

  /** The table insert of a flush; its dead letters are the invalid messages and the refused rows. */
  private async storeRows(
    chunks: readonly PartitionChunk<NormalisedRecord>[],
    encoder: RowEncoder,
  ): Promise<{ accepted: readonly NormalisedRecord[]; letters: DeadLetterInput[]; result: StoreResult }> {
    const nowS = epochSeconds(Date.now());
    const records = chunks.flatMap((c) => c.valid);
    const { insertMs, accepted, letters } = await this.insert(encoder.table, chunks, records, (rows) =>
      this.repo.insertRecords(encoder, rows, nowS),
    );
    return {
      accepted,
      letters: [...chunks.flatMap((c) => c.invalid), ...letters],
      result: this.result(chunks, accepted.length, letters.length, insertMs),
    };
  }

  private result(
    chunks: readonly PartitionChunk<unknown>[],
    rows: number,
    rejected: number,
    insertMs: number,
  ): StoreResult {
    return { rows, rejected, invalid: chunks.reduce((n, c) => n + c.invalid.length, 0), insertMs };
  }

  private batchLog: Promise<void> = Promise.resolve();

  /**
   * One ingest_batches row per stored partition chunk, written off the flush path (one at a time).
   * Best effort: it is telemetry, not data.
   */
  logBatches(consumer: string, chunks: readonly PartitionChunk<NormalisedRecord>[], insertMs: number): void {
    this.batchLog = this.batchLog.then(() => this.writeBatchLog(consumer, chunks, insertMs));
  }

  /** Resolves when the ingest_batches rows queued so far are written. */
  flushBatchLog(): Promise<void> {
    return this.batchLog;
  }

  private async writeBatchLog(
    consumer: string,
    chunks: readonly PartitionChunk<NormalisedRecord>[],
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
      max_event_lag_ms: c.valid.reduce((m, r) => Math.max(m, now - (r.ts_ms as number)), 0),
    }));
    try {
      await this.repo.insertBatchLog(rows);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not write ingest_batches rows');
    }
  }

  /**
   * The ClickHouse insert of one flush's rows (records of `chunks`, in order), isolating rows the
   * server refuses for their data: those become dead letters with the server's code and message.
   */
  private async insert<R>(
    table: string,
    chunks: readonly PartitionChunk<unknown>[],
    rows: readonly R[],
    isolating: (rows: readonly R[]) => Promise<IsolationResult<R>>,
  ): Promise<{ insertMs: number; accepted: readonly R[]; letters: DeadLetterInput[] }> {
    if (rows.length === 0) return { insertMs: 0, accepted: rows, letters: [] };
    let ms = 0;
    const { rejected, inserts } = await this.step('clickhouse', table, async () => {
      const t0 = performance.now();
      const r = await isolating(rows);
      ms = performance.now() - t0;
      return r;
    });
    this.metrics.insertSeconds.observe({ table }, ms / 1000);
    this.metrics.batchRows.observe({ table }, rows.length);
    this.metrics.stored.inc({ table }, rows.length - rejected.length);
    if (rejected.length === 0) return { insertMs: ms, accepted: rows, letters: [] };

    this.metrics.rejected.inc({ table }, rejected.length);
    const letters = rejected.map((r) => this.refusedLetter(table, chunks, r));
    this.log.warn(
      {
        table,
        rows: rows.length,
        inserts,
        refused: letters
          .slice(0, 20)
          .map((l) => ({ topic: l.topic, partition: l.partition, offset: l.offset, reason: l.reason })),
      },
      'ClickHouse refused rows for their data: dead-lettering them, storing the rest',
    );
    const bad = new Set(rejected.map((r) => r.index));
    return { insertMs: ms, accepted: rows.filter((_, i) => !bad.has(i)), letters };
  }

  /** The dead letter of the flush's `index`-th record: its origin, the server's reason, the record as JSON. */
  private refusedLetter(
    table: string,
    chunks: readonly PartitionChunk<unknown>[],
    rejected: RejectedRow<unknown>,
  ): DeadLetterInput {
    let i = rejected.index;
    let chunk = chunks[0]!;
    for (const c of chunks) {
      chunk = c;
      if (i < c.valid.length) break;
      i -= c.valid.length;
    }
    const { reason, code } = refusedRowReason(table, rejected);
    return {
      reason,
      topic: chunk.topic,
      partition: chunk.partition,
      offset: chunk.validOffsets[i] ?? '',
      key: null,
      value: Buffer.from(JSON.stringify(chunk.valid[i] ?? rejected.row)),
      errorCode: code,
    };
  }

  private async deadLetter(kind: string, letters: readonly DeadLetterInput[]): Promise<void> {
    if (letters.length === 0) return;
    const { truncated } = await this.step('kafka-dlq', kind, () => this.dlq.send(letters));
    for (const l of letters) this.metrics.deadLettered.inc({ topic: l.topic });
    if (truncated > 0) {
      this.metrics.truncated.inc(truncated);
      this.log.warn({ kind, truncated }, 'dead letters too large for the DLQ were written truncated');
    }
  }

  /** `kind` keeps the events and items flushes apart: one recovering must not resume the other. */
  private async step<T>(target: string, kind: string, fn: () => Promise<T>): Promise<T> {
    const key = `${target}:${kind}`;
    const result = await retryForever(fn, {
      ...this.backoff,
      giveUp: () => this.stopping,
      onRetry: (err, attempt, waitMs) => {
        this.metrics.retries.inc({ target });
        this.flow.fail(key);
        this.log.warn(
          {
            target,
            kind,
            attempt,
            waitMs,
            err: (err as Error).message,
            code: (err as { code?: unknown }).code,
          },
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
