import { Module } from '@nestjs/common';
import { ScoreLogSinkRepository } from './score-log-sink.repository';
import { ScoreLogSinkService } from './score-log-sink.service';

/** Kafka scores topic -> ClickHouse score_log (can run in its own process with the API off). */
@Module({ providers: [ScoreLogSinkRepository, ScoreLogSinkService] })
export class ScoreLogSinkModule {}
