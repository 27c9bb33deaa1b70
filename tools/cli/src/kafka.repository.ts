import type { Kafka } from 'kafkajs';
import type { AppConfig } from '@mmctr/config';
import { createKafka, ensureTopics, EventProducer, platformTopics } from '@mmctr/kafka';

/** One line of a JSON-lines file, sent as it is under its partition key (null: none could be read). */
export interface KeyedLine {
  key: string | null;
  value: Buffer;
}

/** The CLI's Kafka access: the platform's topics, and raw lines produced to a topic. */
export class CliKafkaRepository {
  private readonly kafka: Kafka;
  private producer: EventProducer | undefined;

  /** `batchSize`: most messages per produce request (each request also stays within the size limit). */
  constructor(
    private readonly config: AppConfig,
    private readonly opts: { batchSize?: number } = {},
  ) {
    this.kafka = createKafka(config);
  }

  /** Creates the platform's topics that do not exist yet; returns their names. */
  createMissingTopics(): Promise<string[]> {
    return ensureTopics(this.kafka, platformTopics(this.config));
  }

  /** Creates `topics` where missing, with the items topic's settings (what ingest gives snapshot topics). */
  createSnapshotTopics(topics: readonly string[]): Promise<string[]> {
    const items = platformTopics(this.config).find((t) => t.topic === this.config.KAFKA_TOPIC_ITEMS)!;
    return ensureTopics(
      this.kafka,
      topics.map((topic) => ({ ...items, topic })),
    );
  }

  /** Sends `lines` to `topic` as they are (connecting on the first call). */
  send(topic: string, lines: readonly KeyedLine[]): Promise<void> {
    this.producer ??= new EventProducer(this.kafka, {
      eventsTopic: this.config.KAFKA_TOPIC_EVENTS,
      itemsTopic: this.config.KAFKA_TOPIC_ITEMS,
      batchSize: this.opts.batchSize,
    });
    return this.producer.sendRaw(topic, lines);
  }

  async close(): Promise<void> {
    await this.producer?.close();
  }
}
