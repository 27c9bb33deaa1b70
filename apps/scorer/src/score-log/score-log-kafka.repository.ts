import type { Producer } from 'kafkajs';
import type { AppConfig } from '@mmctr/config';
import { AcknowledgedSender, createKafka } from '@mmctr/kafka';
import type { ScoreLogTransport } from './score-log-sender';

/**
 * The score log thread's kafkajs producer on the scores topic. It connects in the background: the
 * scorer serves while Kafka is away, records wait in the sender's queue, and each send retries the
 * connection.
 */
export class ScoreLogKafkaRepository implements ScoreLogTransport {
  private readonly producer: Producer;
  /** Resends what kafkajs left unwritten after a partition leader moved (see AcknowledgedSender). */
  private readonly acknowledged = new AcknowledgedSender();
  private connected: Promise<void> | undefined;

  constructor(
    kafka: Pick<AppConfig, 'KAFKA_BROKERS' | 'KAFKA_CLIENT_ID'>,
    private readonly topic: string,
    private readonly onConnectFailed: (err: Error) => void,
  ) {
    this.producer = createKafka(kafka).producer({
      allowAutoTopicCreation: false,
      createPartitioner: this.acknowledged.createPartitioner,
    });
  }

  /** Connects once; a failed attempt is reported and the next call tries again. */
  connect(): Promise<void> {
    return (this.connected ??= this.producer.connect().catch((err: Error) => {
      this.connected = undefined;
      this.onConnectFailed(err);
      throw err;
    }));
  }

  async send(messages: { key: string; value: string }[]): Promise<void> {
    await this.connect();
    // acks=all: with min.insync.replicas on the topic, a broker loss cannot drop an acknowledged row.
    await this.acknowledged.send(this.producer, { topic: this.topic, acks: -1, messages });
  }

  close(): Promise<void> {
    return this.producer.disconnect().catch(() => undefined);
  }
}
