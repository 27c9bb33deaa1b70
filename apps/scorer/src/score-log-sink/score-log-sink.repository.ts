import { Injectable } from '@nestjs/common';
import eventContract from '@mmctr/contracts/src/schemas/event.v1.schema.json';
import { ClickHouseService, insertIsolatingPoison, type IsolationResult } from '@mmctr/clickhouse';
import type { ScoreLogRow } from './score-log-row';

@Injectable()
export class ScoreLogSinkRepository {
  /**
   * score_log's fixed String columns for request context, from before the table logged any
   * repository's context as JSON: the v1 event contract's fixed context, one column per attribute.
   * Each is filled from the context attribute of the same name.
   */
  readonly legacyContextColumns: readonly string[] = Object.keys(eventContract.properties.context.properties);

  constructor(private readonly ch: ClickHouseService) {}

  /** Inserts into score_log, isolating the rows the server refuses for their data (returned). */
  insert(rows: readonly ScoreLogRow[]): Promise<IsolationResult<ScoreLogRow>> {
    return insertIsolatingPoison(rows, (batch) => this.ch.insert('score_log', batch));
  }
}
