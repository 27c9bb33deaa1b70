import {
  Partitioners,
  type ICustomPartitioner,
  type Message,
  type PartitionerArgs,
  type Producer,
  type RecordMetadata,
} from 'kafkajs';

/**
 * kafkajs 2.2.4 can resolve a send without having written some of its messages. A send keeps each
 * broker's answer across its retries and, on a retry, sends only to brokers without one: when a
 * partition's leader dies and the partition moves to a broker that already answered for its own
 * partitions, that partition's messages are never sent again, yet send() resolves (the same answer map
 * is behind tulios/kafkajs#1798, unreleased). The loopback cluster's chaos test showed it as acknowledged
 * events missing from the topic after a broker SIGKILL.
 *
 * The answer lists every partition that was written, so a partitioner that remembers where it put each
 * message tells which messages are missing; `send` sends those again until every partition answered.
 * Messages never written are not duplicated by this: they are the ones sent again.
 */
export class AcknowledgedSender {
  private readonly placed = new WeakMap<Message, number>();
  /** Messages sent again because their partition was missing from a send's answer. */
  resent = 0;

  /** For kafka.producer({ createPartitioner }): kafkajs' default partitioner, remembering its choices. */
  readonly createPartitioner: ICustomPartitioner = () => {
    const partitioner = Partitioners.DefaultPartitioner();
    return (args: PartitionerArgs) => {
      const partition = partitioner(args);
      this.placed.set(args.message, partition);
      return partition;
    };
  };

  /**
   * `producer.send` (whose producer was created with `createPartitioner`), then again with the
   * messages whose partition is missing from the answer, up to `maxSends` sends in all; throws if some
   * are still unwritten then, so that the caller retries as after any failed send.
   */
  async send(
    producer: Pick<Producer, 'send'>,
    record: { topic: string; acks: number; messages: Message[] },
    maxSends = 5,
  ): Promise<RecordMetadata[]> {
    const answers: RecordMetadata[] = [];
    let pending = record.messages;
    for (let sends = 1; ; sends++) {
      const answer = await producer.send({ ...record, messages: pending });
      answers.push(...answer);
      const written = new Set(answer.filter((a) => a.topicName === record.topic).map((a) => a.partition));
      pending = pending.filter((m) => {
        const partition = this.placed.get(m);
        return partition === undefined || !written.has(partition);
      });
      if (pending.length === 0) return answers;
      this.resent += pending.length;
      if (sends >= maxSends)
        throw new UnacknowledgedSendError(record.topic, pending.length, record.messages.length, sends);
    }
  }
}

/** Some messages of a send were still not acknowledged after several sends (retry the send). */
export class UnacknowledgedSendError extends Error {
  constructor(topic: string, missing: number, total: number, sends: number) {
    super(`kafka: ${missing} of ${total} message(s) to ${topic} not acknowledged after ${sends} sends`);
    this.name = 'UnacknowledgedSendError';
  }
}
