import { Inject, Injectable } from '@nestjs/common';
import { ClickHouseService } from '@mmctr/clickhouse';
import { EVENT_COLUMNS, type ItemRow } from './row-mappers';

export interface IngestBatchRow {
  ts_ms: number;
  event_time: number;
  consumer: string;
  topic: string;
  partition: number;
  first_offset: number;
  last_offset: number;
  rows: number;
  invalid: number;
  insert_ms: number;
  max_event_lag_ms: number;
}

/** The ClickHouse tables ingest writes. */
@Injectable()
export class IngestRepository {
  constructor(@Inject(ClickHouseService) private readonly clickhouse: ClickHouseService) {}

  /** Events already encoded by `encodeEvents`. */
  insertEvents(rowBinary: Buffer): Promise<void> {
    return this.clickhouse.insertRowBinary('events', EVENT_COLUMNS, rowBinary);
  }

  insertItems(rows: readonly ItemRow[]): Promise<void> {
    return this.clickhouse.insert('items', rows);
  }

  insertBatchLog(rows: readonly IngestBatchRow[]): Promise<void> {
    return this.clickhouse.insert('ingest_batches', rows);
  }
}
