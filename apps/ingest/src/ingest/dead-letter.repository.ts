import { Inject, Injectable } from '@nestjs/common';
import type { Kafka, Producer } from 'kafkajs';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import { DEFAULT_BATCH_BYTES, chunkMessages } from '@mmctr/kafka';
import { deadLetterMessage, type DeadLetter } from './message-router';
import { KAFKA } from './tokens';

/** Writes undecodable or invalid messages to the dead-letter topic. */
@Injectable()
export class DeadLetterRepository {
  private readonly producer: Producer;
  private connected = false;

  constructor(
    @Inject(KAFKA) kafka: Kafka,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    // Idempotent: a retried send after a lost ack does not duplicate dead letters.
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    this.connected = true;
  }

  async send(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    if (!this.connected) await this.connect();
    // Dead letters include oversized messages: keep each request under the broker's batch limit.
    for (const messages of chunkMessages(letters.map(deadLetterMessage), 1_000, DEFAULT_BATCH_BYTES)) {
      await this.producer.send({ topic: this.config.KAFKA_TOPIC_DLQ, acks: -1, messages });
    }
  }

  async disconnect(): Promise<void> {
    if (this.connected) await this.producer.disconnect();
    this.connected = false;
  }
}
