import { Inject, Injectable } from '@nestjs/common';
import { ClickHouseService, insertIsolatingPoison, type IsolationResult } from '@mmctr/clickhouse';
import type { ScoreLogRow } from './score-log-row';

@Injectable()
export class ScoreLogSinkRepository {
  constructor(@Inject(ClickHouseService) private readonly ch: ClickHouseService) {}

  /** Inserts into score_log, isolating the rows the server refuses for their data (returned). */
  insert(rows: readonly ScoreLogRow[]): Promise<IsolationResult<ScoreLogRow>> {
    return insertIsolatingPoison(rows, (batch) => this.ch.insert('score_log', batch));
  }
}
