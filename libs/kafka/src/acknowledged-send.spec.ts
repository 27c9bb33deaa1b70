import { Partitioners, type Message, type PartitionerArgs, type RecordMetadata } from 'kafkajs';
import { AcknowledgedSender, UnacknowledgedSendError } from './acknowledged-send';

/* eslint-disable @typescript-eslint/no-require-imports -- kafkajs' own send path, driven with a fake cluster */
type SendMessages = (req: {
  acks: number;
  topicMessages: { topic: string; messages: Message[] }[];
}) => Promise<RecordMetadata[]>;
type Partitioner = (args: PartitionerArgs) => number;
const createSendMessages = require('kafkajs/src/producer/sendMessages') as (opts: object) => SendMessages;
const createRetry = require('kafkajs/src/retry') as (opts: object) => unknown;
const { KafkaJSConnectionError } = require('kafkajs/src/errors') as {
  KafkaJSConnectionError: new (message: string) => Error;
};
/* eslint-enable @typescript-eslint/no-require-imports */

const TOPIC = 'events';

/** Partition metadata of `count` partitions, all led by broker 1: what a partitioner is handed. */
const partitions = (count: number) =>
  Array.from({ length: count }, (_, partitionId) => ({
    partitionId,
    leader: 1,
    partitionErrorCode: 0,
    replicas: [],
    isr: [],
  }));

/**
 * Two partitions: 0 led by broker 1, 1 led by broker 3. Broker 3 is dead (connection refused); once
 * a client refreshes metadata after that, partition 1 is led by broker 1 (the leader moved), as after
 * the SIGKILL of a partition leader. Broker 1 records what it writes.
 */
function cluster() {
  const leaders: Record<number, number> = { 0: 1, 1: 3 };
  const written: { partition: number; key: string }[] = [];
  const broker = (nodeId: number) => ({
    nodeId,
    produce: async ({
      topicData,
    }: {
      topicData: { topic: string; partitions: { partition: string; messages: Message[] }[] }[];
    }) => {
      if (nodeId === 3) throw new KafkaJSConnectionError('Connection error: connect ECONNREFUSED');
      const partitions = topicData[0]!.partitions.map(({ partition, messages }) => {
        for (const m of messages) written.push({ partition: Number(partition), key: String(m.key) });
        return {
          partition: Number(partition),
          errorCode: 0,
          baseOffset: '0',
          logAppendTime: '-1',
          logStartOffset: '0',
        };
      });
      return { topics: [{ topicName: TOPIC, partitions }] };
    },
  });
  const brokers = new Map([1, 3].map((id) => [id, broker(id)]));
  const fake = {
    refreshMetadataIfNecessary: async () => undefined,
    refreshMetadata: async () => {
      leaders[1] = 1;
    },
    addMultipleTargetTopics: async () => undefined,
    isConnected: () => true,
    removeBroker: () => undefined,
    findTopicPartitionMetadata: () =>
      [0, 1].map((partitionId) => ({
        partitionId,
        leader: leaders[partitionId],
        partitionErrorCode: 0,
        replicas: [],
        isr: [],
      })),
    findLeaderForPartitions: (_topic: string, partitions: string[]) => {
      const out: Record<number, number[]> = {};
      for (const p of partitions) (out[leaders[Number(p)]!] ??= []).push(Number(p));
      return out;
    },
    findBroker: async ({ nodeId }: { nodeId: number }) => brokers.get(Number(nodeId))!,
  };
  return { fake, written };
}

const eosManager = {
  acquireBrokerLock: async () => undefined,
  releaseBrokerLock: async () => undefined,
  isTransactional: () => false,
  getSequence: () => 0,
  updateSequence: () => undefined,
  getProducerId: () => -1,
  getProducerEpoch: () => 0,
};
const logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** kafkajs' send path (the one producer.send runs) over the fake cluster, with `partitioner`. */
function kafkajsSend(fake: object, partitioner: Partitioner) {
  const sendMessages = createSendMessages({
    logger,
    cluster: fake,
    partitioner,
    eosManager,
    retrier: createRetry({ retries: 3, initialRetryTime: 1, maxRetryTime: 5 }),
  });
  return {
    send: ({ topic, acks, messages }: { topic: string; acks?: number; messages: Message[] }) =>
      sendMessages({ acks: acks ?? -1, topicMessages: [{ topic, messages }] }),
  };
}

/** Keys that kafkajs' default partitioner puts on partition 0 and on partition 1 of a 2-partition topic. */
function keysOnBothPartitions(): Message[] {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = partitions(2);
  const messages: Message[] = [];
  const seen = new Set<number>();
  for (let k = 0; seen.size < 2 || messages.length < 10; k++) {
    const message = { key: `user-${k}`, value: `event-${k}` };
    seen.add(partitioner({ topic: TOPIC, partitionMetadata, message }));
    messages.push(message);
  }
  return messages;
}

describe('AcknowledgedSender', () => {
  it('kafkajs 2.2.4 itself resolves a send whose moved partition it never wrote (the defect worked around)', async () => {
    const { fake, written } = cluster();
    const messages = keysOnBothPartitions();
    const answer = await kafkajsSend(fake, Partitioners.DefaultPartitioner()).send({
      topic: TOPIC,
      messages,
    });
    expect(answer.map((a) => a.partition)).toEqual([0]);
    expect(written.length).toBeLessThan(messages.length);
    expect(new Set(written.map((w) => w.partition))).toEqual(new Set([0]));
  });

  it('sends again the messages of partitions missing from the answer, until every one is written', async () => {
    const { fake, written } = cluster();
    const sender = new AcknowledgedSender();
    const messages = keysOnBothPartitions();
    const answer = await sender.send(kafkajsSend(fake, sender.createPartitioner()), {
      topic: TOPIC,
      acks: -1,
      messages,
    });
    expect(new Set(answer.map((a) => a.partition))).toEqual(new Set([0, 1]));
    expect(sender.resent).toBeGreaterThan(0);
    expect(sender.resent).toBeLessThan(messages.length);
    // Each message written once: the second send carries only partition 1's messages.
    expect(written.map((w) => w.key).sort()).toEqual(messages.map((m) => String(m.key)).sort());
  });

  it('places messages as kafkajs’ default partitioner does', () => {
    const sender = new AcknowledgedSender();
    const ours = sender.createPartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    const partitionMetadata = partitions(4);
    for (let k = 0; k < 50; k++) {
      const message = { key: `u${k}`, value: 'v' };
      expect(ours({ topic: TOPIC, partitionMetadata, message })).toBe(
        theirs({ topic: TOPIC, partitionMetadata, message }),
      );
    }
  });

  it('gives up with an error naming what is missing when a partition never answers', async () => {
    const sender = new AcknowledgedSender();
    const partition = sender.createPartitioner();
    const messages = keysOnBothPartitions();
    const partitionMetadata = partitions(2);
    let sends = 0;
    const producer = {
      // Answers for partition 0 only, every time.
      send: async ({ messages: sent }: { messages: Message[] }) => {
        sends++;
        for (const message of sent) partition({ topic: TOPIC, partitionMetadata, message });
        return [{ topicName: TOPIC, partition: 0, errorCode: 0 }];
      },
    };
    await expect(sender.send(producer, { topic: TOPIC, acks: -1, messages }, 3)).rejects.toThrow(
      UnacknowledgedSendError,
    );
    expect(sends).toBe(3);
  });
});
