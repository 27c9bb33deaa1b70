import { Inject, Injectable } from '@nestjs/common';
import type { BehaviourEvent } from '@mmctr/contracts';
import {
  ClickHouseService,
  RowEncodingError,
  insertIsolatingPoison,
  type HealthStatus,
  type IsolationResult,
} from '@mmctr/clickhouse';
import { EVENT_COLUMNS, encodeEvents, type ItemRow } from './row-mappers';

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

/**
 * The ClickHouse tables ingest writes. Event and item inserts isolate the rows the server (or the
 * encoder) refuses for their data and return them; the rest are stored.
 */
@Injectable()
export class IngestRepository {
  constructor(@Inject(ClickHouseService) private readonly clickhouse: ClickHouseService) {}

  /** Events as RowBinary, `nowS` as their ingested_at. */
  insertEvents(events: readonly BehaviourEvent[], nowS: number): Promise<IsolationResult<BehaviourEvent>> {
    return insertIsolatingPoison(events, (rows) =>
      this.clickhouse.insertRowBinary('events', EVENT_COLUMNS, encodeChecked(rows, nowS)),
    );
  }

  insertItems(rows: readonly ItemRow[]): Promise<IsolationResult<ItemRow>> {
    return insertIsolatingPoison(rows, (batch) => this.clickhouse.insert('items', batch));
  }

  insertBatchLog(rows: readonly IngestBatchRow[]): Promise<void> {
    return this.clickhouse.insert('ingest_batches', rows);
  }

  ping(): Promise<HealthStatus> {
    return this.clickhouse.health();
  }
}

/** encodeEvents, with a value the encoder cannot write reported as that row's fault. */
function encodeChecked(events: readonly BehaviourEvent[], nowS: number): Buffer {
  try {
    return encodeEvents(events, nowS);
  } catch (err) {
    if (err instanceof RangeError) throw new RowEncodingError(err.message);
    throw err;
  }
}
