import { Module } from '@nestjs/common';
import { ScoreLogConsumerRepository } from './score-log-consumer.repository';
import { ScoreLogDeadLetterRepository } from './score-log-dead-letter.repository';
import { ScoreLogSinkHealthController } from './score-log-sink-health.controller';
import { ScoreLogSinkRepository } from './score-log-sink.repository';
import { ScoreLogSinkService } from './score-log-sink.service';

/** Kafka scores topic -> ClickHouse score_log (can run in its own process with the API off). */
@Module({
  providers: [
    ScoreLogConsumerRepository,
    ScoreLogSinkRepository,
    ScoreLogDeadLetterRepository,
    ScoreLogSinkService,
  ],
  controllers: [ScoreLogSinkHealthController],
})
export class ScoreLogSinkModule {}
