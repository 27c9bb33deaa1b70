import { Inject, Injectable } from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { DeadLetterProducer, type DeadLetterInput } from '@mmctr/kafka';
import { KAFKA } from './tokens';

/**
 * Writes what ingest cannot store (undecodable or invalid messages, rows ClickHouse refuses) to the
 * dead-letter topic. A letter too large for the topic goes out as a truncated envelope, never stalls.
 */
@Injectable()
export class DeadLetterRepository {
  private readonly producer: DeadLetterProducer;

  constructor(@Inject(KAFKA) kafka: Kafka, @Inject(APP_CONFIG) config: AppConfig) {
    this.producer = DeadLetterProducer.fromConfig(kafka, config);
  }

  async connect(): Promise<void> {
    await this.producer.connect();
  }

  /** Resolves once every letter is acknowledged; says how many were truncated. */
  send(letters: readonly DeadLetterInput[]): Promise<{ truncated: number }> {
    return this.producer.send(letters);
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}
