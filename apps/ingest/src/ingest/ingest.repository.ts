import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import {
  ClickHouseService,
  RowEncodingError,
  insertIsolatingPoison,
  type HealthStatus,
  type IsolationResult,
} from '@mmctr/clickhouse';
import {
  readTableColumns,
  type NormalisedRecord,
  type RowEncoder,
  type TableColumn,
} from '@mmctr/feature-repo';

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
 * The ClickHouse tables ingest writes. Event and entity inserts isolate the rows the server (or the
 * encoder) refuses for their data and return them; the rest are stored.
 */
@Injectable()
export class IngestRepository {
  constructor(
    private readonly clickhouse: ClickHouseService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The table's actual columns (none when it does not exist), read once at startup. */
  columns(table: string): Promise<TableColumn[]> {
    return readTableColumns(this.clickhouse, this.config.CLICKHOUSE_DATABASE, table);
  }

  /** Records as RowBinary rows of the encoder's table, `nowS` as their ingested_at. */
  insertRecords(
    encoder: RowEncoder,
    records: readonly NormalisedRecord[],
    nowS: number,
  ): Promise<IsolationResult<NormalisedRecord>> {
    return insertIsolatingPoison(records, (rows) =>
      this.clickhouse.insertRowBinary(encoder.table, encoder.columns, encodeChecked(encoder, rows, nowS)),
    );
  }

  insertBatchLog(rows: readonly IngestBatchRow[]): Promise<void> {
    return this.clickhouse.insert('ingest_batches', rows);
  }

  ping(): Promise<HealthStatus> {
    return this.clickhouse.health();
  }
}

/** The encoder's rows, with a value it cannot write reported as that row's fault. */
function encodeChecked(encoder: RowEncoder, records: readonly NormalisedRecord[], nowS: number): Buffer {
  try {
    return encoder.encode(records, nowS);
  } catch (err) {
    if (err instanceof RangeError) throw new RowEncodingError(err.message);
    throw err;
  }
}
