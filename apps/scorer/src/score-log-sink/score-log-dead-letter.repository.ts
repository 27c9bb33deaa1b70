import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { DeadLetterProducer, createKafka, type DeadLetterInput } from '@mmctr/kafka';

/**
 * The score-log sink's dead letters go to the platform DLQ topic (KAFKA_TOPIC_DLQ), with the same
 * headers as ingest's (the original topic tells them apart). Too large ones go out truncated.
 */
@Injectable()
export class ScoreLogDeadLetterRepository {
  private readonly producer: DeadLetterProducer;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.producer = DeadLetterProducer.fromConfig(createKafka(config), config);
  }

  send(letters: readonly DeadLetterInput[]): Promise<{ truncated: number }> {
    return this.producer.send(letters);
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }
}
