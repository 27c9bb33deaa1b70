import { Module } from '@nestjs/common';
import { ScoreLogDeadLetterRepository } from './score-log-dead-letter.repository';
import { ScoreLogSinkHealthController } from './score-log-sink-health.controller';
import { ScoreLogSinkRepository } from './score-log-sink.repository';
import { ScoreLogSinkService } from './score-log-sink.service';

/** Kafka scores topic -> ClickHouse score_log (can run in its own process with the API off). */
@Module({
  providers: [ScoreLogSinkRepository, ScoreLogDeadLetterRepository, ScoreLogSinkService],
  controllers: [ScoreLogSinkHealthController],
})
export class ScoreLogSinkModule {}
