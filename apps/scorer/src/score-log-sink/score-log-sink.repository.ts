import { Inject, Injectable } from '@nestjs/common';
import { ClickHouseService } from '@mmctr/clickhouse';
import type { ScoreLogRow } from './score-log-row';

@Injectable()
export class ScoreLogSinkRepository {
  constructor(@Inject(ClickHouseService) private readonly ch: ClickHouseService) {}

  async insert(rows: readonly ScoreLogRow[]): Promise<void> {
    await this.ch.insert('score_log', rows);
  }
}
