import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The ingest app's Prometheus metrics, on a registry of its own. */
@Injectable()
export class IngestMetrics {
  readonly registry = new Registry();

  readonly consumed = new Counter({
    name: 'mmctr_ingest_messages_consumed_total',
    help: 'Kafka messages consumed',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  readonly stored = new Counter({
    name: 'mmctr_ingest_rows_stored_total',
    help: 'Rows stored in ClickHouse',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly invalid = new Counter({
    name: 'mmctr_ingest_messages_invalid_total',
    help: 'Messages that failed decoding or validation',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  readonly deadLettered = new Counter({
    name: 'mmctr_ingest_messages_dead_lettered_total',
    help: 'Messages written to the dead-letter topic',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: 'mmctr_ingest_rows_rejected_total',
    help: 'Rows ClickHouse refused for their data (isolated and dead-lettered)',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly truncated = new Counter({
    name: 'mmctr_ingest_dead_letters_truncated_total',
    help: 'Dead letters too large for the DLQ, written as a truncated envelope',
    registers: [this.registry],
  });
  readonly batchRows = new Histogram({
    name: 'mmctr_ingest_batch_rows',
    help: 'Rows per ClickHouse insert',
    labelNames: ['table'] as const,
    buckets: [1, 10, 100, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000],
    registers: [this.registry],
  });
  readonly insertSeconds = new Histogram({
    name: 'mmctr_ingest_insert_duration_seconds',
    help: 'Duration of a successful ClickHouse insert',
    labelNames: ['table'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly lag = new Gauge({
    name: 'mmctr_ingest_consumer_lag',
    help: 'Messages between the last fetched offset and the high watermark',
    labelNames: ['topic', 'partition'] as const,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: 'mmctr_ingest_store_retries_total',
    help: 'Failed store attempts that were retried',
    labelNames: ['target'] as const,
    registers: [this.registry],
  });
  readonly paused = new Gauge({
    name: 'mmctr_ingest_paused',
    help: '1 while consumption is paused because a store is failing',
    registers: [this.registry],
  });
  readonly commits = new Counter({
    name: 'mmctr_ingest_offset_commits_total',
    help: 'Offset commits by result (ok, failed, skipped: partition revoked)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
