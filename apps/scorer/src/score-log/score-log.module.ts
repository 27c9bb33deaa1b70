import { Module } from '@nestjs/common';
import { ScoreLogProducer } from './score-log.producer';

@Module({ providers: [ScoreLogProducer], exports: [ScoreLogProducer] })
export class ScoreLogModule {}
