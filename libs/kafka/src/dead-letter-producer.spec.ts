import type { ICustomPartitioner, Kafka, Message, ProducerRecord } from 'kafkajs';
import { DLQ_HEADERS } from '@mmctr/contracts';
import {
  DLQ_ENVELOPE_HEADERS,
  DeadLetterProducer,
  deadLetterRecord,
  recordBytes,
  type DeadLetterInput,
} from './dead-letter-producer';

/** A broker that refuses any record over `maxRecord` bytes the way kafkajs reports it, or is down. */
function fakeBroker(maxRecord: number) {
  const written: Message[] = [];
  const state = { down: false };
  const kafka = {
    producer: ({ createPartitioner }: { createPartitioner: ICustomPartitioner }) => ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      send: async (r: ProducerRecord) => {
        // As kafkajs: the producer's partitioner places each message (one partition here).
        const partition = createPartitioner();
        const partitionMetadata = [
          { partitionId: 0, leader: 1, partitionErrorCode: 0, replicas: [], isr: [] },
        ];
        for (const message of r.messages) partition({ topic: r.topic, partitionMetadata, message });
        if (state.down) throw Object.assign(new Error('Connection error: ECONNREFUSED'), { retriable: true });
        for (const m of r.messages) {
          const size = recordBytes(m as never);
          if (size > maxRecord)
            throw Object.assign(
              new Error('The request included a message larger than the max message size'),
              {
                type: 'MESSAGE_TOO_LARGE',
              },
            );
        }
        written.push(...r.messages);
        return [{ topicName: r.topic, partition: 0, errorCode: 0 }];
      },
    }),
  } as unknown as Kafka;
  return { kafka, written, state };
}

const letter = (valueBytes: number, over: Partial<DeadLetterInput> = {}): DeadLetterInput => ({
  reason: 'oversized: too big',
  topic: 'events',
  partition: 2,
  offset: '41',
  key: Buffer.from('user-1'),
  value: Buffer.alloc(valueBytes, 0x61),
  ...over,
});

describe('deadLetterRecord', () => {
  it('keeps a small letter whole, with reason, origin and size', () => {
    const r = deadLetterRecord(letter(100, { errorCode: 25 }));
    expect(r.value).toHaveLength(100);
    expect(r.headers).toEqual({
      [DLQ_HEADERS.reason]: 'oversized: too big',
      [DLQ_HEADERS.topic]: 'events',
      [DLQ_HEADERS.partition]: '2',
      [DLQ_HEADERS.offset]: '41',
      [DLQ_ENVELOPE_HEADERS.size]: '100',
      [DLQ_ENVELOPE_HEADERS.errorCode]: '25',
    });
  });

  it('truncates a letter over the limit to its head and says so', () => {
    const r = deadLetterRecord(letter(2 * 1024 * 1024), { maxMessageBytes: 1_000_000, headBytes: 65_536 });
    expect(r.value).toHaveLength(65_536);
    expect(r.headers[DLQ_ENVELOPE_HEADERS.truncated]).toBe('true');
    expect(r.headers[DLQ_ENVELOPE_HEADERS.size]).toBe(String(2 * 1024 * 1024));
    expect(r.headers[DLQ_HEADERS.offset]).toBe('41');
    expect(recordBytes(r)).toBeLessThan(1_000_000);
  });

  it('caps a huge reason', () => {
    const r = deadLetterRecord(letter(10, { reason: 'x'.repeat(100_000) }));
    expect(r.headers[DLQ_HEADERS.reason]!.length).toBeLessThan(5_000);
  });
});

describe('DeadLetterProducer', () => {
  it('writes an oversized record truncated instead of failing', async () => {
    const b = fakeBroker(1_000_000);
    const p = new DeadLetterProducer(b.kafka, 'dlq');
    const res = await p.send([letter(10), letter(2 * 1024 * 1024), letter(20)]);
    expect(res).toEqual({ truncated: 1 });
    expect(b.written.map((m) => (m.value as Buffer).length)).toEqual([10, 65_536, 20]);
  });

  it('shrinks a letter further when the topic refuses even the truncated envelope', async () => {
    const b = fakeBroker(20_000); // a DLQ topic with a lower max.message.bytes than configured
    const p = new DeadLetterProducer(b.kafka, 'dlq');
    const res = await p.send([letter(10), letter(50_000), letter(15_000)]);
    expect(res.truncated).toBe(1);
    expect(b.written.map((m) => (m.value as Buffer).length)).toEqual([10, 1_024, 15_000]);
    expect(b.written[1]!.headers).toMatchObject({
      [DLQ_ENVELOPE_HEADERS.truncated]: 'true',
      [DLQ_ENVELOPE_HEADERS.size]: '50000',
    });
  });

  it('throws when the broker is down (the caller retries; nothing is skipped)', async () => {
    const b = fakeBroker(1_000_000);
    b.state.down = true;
    const p = new DeadLetterProducer(b.kafka, 'dlq');
    await expect(p.send([letter(10)])).rejects.toThrow(/ECONNREFUSED/);
    expect(b.written).toEqual([]);
  });
});
