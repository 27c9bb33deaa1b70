import { Injectable } from '@nestjs/common';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { metricsOn } from '@mmctr/observability';

/** The ingest app's Prometheus metrics, on a registry of its own. */
@Injectable()
export class IngestMetrics {
  readonly registry = new Registry();
  private readonly m = metricsOn(this.registry);

  readonly consumed = this.m.counter('mmctr_ingest_messages_consumed_total', 'Kafka messages consumed', [
    'topic',
  ]);
  readonly stored = this.m.counter('mmctr_ingest_rows_stored_total', 'Rows stored in ClickHouse', ['table']);
  readonly invalid = this.m.counter(
    'mmctr_ingest_messages_invalid_total',
    'Messages that failed decoding or validation',
    ['topic'],
  );
  readonly deadLettered = this.m.counter(
    'mmctr_ingest_messages_dead_lettered_total',
    'Messages written to the dead-letter topic',
    ['topic'],
  );
  readonly rejected = this.m.counter(
    'mmctr_ingest_rows_rejected_total',
    'Rows ClickHouse refused for their data (isolated and dead-lettered)',
    ['table'],
  );
  readonly truncated = this.m.counter(
    'mmctr_ingest_dead_letters_truncated_total',
    'Dead letters too large for the DLQ, written as a truncated envelope',
  );
  readonly batchRows = this.m.histogram(
    'mmctr_ingest_batch_rows',
    'Rows per ClickHouse insert',
    [1, 10, 100, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000],
    ['table'],
  );
  readonly insertSeconds = this.m.histogram(
    'mmctr_ingest_insert_duration_seconds',
    'Duration of a successful ClickHouse insert',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ['table'],
  );
  readonly lag = this.m.gauge(
    'mmctr_ingest_consumer_lag',
    'Messages between the last fetched offset and the high watermark',
    ['topic', 'partition'],
  );
  readonly retries = this.m.counter(
    'mmctr_ingest_store_retries_total',
    'Failed store attempts that were retried',
    ['target'],
  );
  readonly paused = this.m.gauge(
    'mmctr_ingest_paused',
    '1 while consumption is paused because a store is failing',
  );
  readonly commits = this.m.counter(
    'mmctr_ingest_offset_commits_total',
    'Offset commits by result (ok, failed, skipped: partition revoked)',
    ['result'],
  );

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
