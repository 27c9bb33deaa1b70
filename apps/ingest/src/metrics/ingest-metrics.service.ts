import { Injectable } from '@nestjs/common';
import { appMetrics, type MetricTable } from '@mmctr/observability';

const INGEST_METRICS = {
  consumed: {
    type: 'counter',
    name: 'mmctr_ingest_messages_consumed_total',
    help: 'Kafka messages consumed',
    labels: ['topic'],
  },
  stored: {
    type: 'counter',
    name: 'mmctr_ingest_rows_stored_total',
    help: 'Rows stored in ClickHouse',
    labels: ['table'],
  },
  invalid: {
    type: 'counter',
    name: 'mmctr_ingest_messages_invalid_total',
    help: 'Messages that failed decoding or validation',
    labels: ['topic'],
  },
  deadLettered: {
    type: 'counter',
    name: 'mmctr_ingest_messages_dead_lettered_total',
    help: 'Messages written to the dead-letter topic',
    labels: ['topic'],
  },
  rejected: {
    type: 'counter',
    name: 'mmctr_ingest_rows_rejected_total',
    help: 'Rows ClickHouse refused for their data (isolated and dead-lettered)',
    labels: ['table'],
  },
  truncated: {
    type: 'counter',
    name: 'mmctr_ingest_dead_letters_truncated_total',
    help: 'Dead letters too large for the DLQ, written as a truncated envelope',
  },
  batchRows: {
    type: 'histogram',
    name: 'mmctr_ingest_batch_rows',
    help: 'Rows per ClickHouse insert',
    labels: ['table'],
    buckets: [1, 10, 100, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000],
  },
  insertSeconds: {
    type: 'histogram',
    name: 'mmctr_ingest_insert_duration_seconds',
    help: 'Duration of a successful ClickHouse insert',
    labels: ['table'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  },
  lag: {
    type: 'gauge',
    name: 'mmctr_ingest_consumer_lag',
    help: 'Messages between the last fetched offset and the high watermark',
    labels: ['topic', 'partition'],
  },
  retries: {
    type: 'counter',
    name: 'mmctr_ingest_store_retries_total',
    help: 'Failed store attempts that were retried',
    labels: ['target'],
  },
  paused: {
    type: 'gauge',
    name: 'mmctr_ingest_paused',
    help: '1 while consumption is paused because a store is failing',
  },
  commits: {
    type: 'counter',
    name: 'mmctr_ingest_offset_commits_total',
    help: 'Offset commits by result (ok, failed, skipped: partition revoked)',
    labels: ['result'],
  },
} as const satisfies MetricTable;

/** The ingest app's Prometheus metrics, on a registry of its own. */
@Injectable()
export class IngestMetrics extends appMetrics(INGEST_METRICS) {}
