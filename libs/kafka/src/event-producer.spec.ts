import type { ICustomPartitioner, Kafka, ProducerRecord } from 'kafkajs';
import { MAX_MESSAGE_BYTES, type BehaviourEvent, type CatalogueItem } from '@mmctr/contracts';
import { EventProducer, InvalidRecordError, chunkMessages } from './event-producer';

function fakeKafka() {
  const sent: ProducerRecord[] = [];
  const options: { createPartitioner: ICustomPartitioner }[] = [];
  const state = { connected: 0, disconnected: 0 };
  const kafka = {
    producer: (opts: { createPartitioner: ICustomPartitioner }) => {
      options.push(opts);
      // As kafkajs: each message placed by the producer's partitioner, one answer per written partition.
      const partition = opts.createPartitioner();
      const partitionMetadata = [0, 1].map((partitionId) => ({
        partitionId,
        leader: 1,
        partitionErrorCode: 0,
        replicas: [],
        isr: [],
      }));
      return {
        connect: async () => void state.connected++,
        disconnect: async () => void state.disconnected++,
        send: async (r: ProducerRecord) => {
          sent.push(r);
          const written = new Set(
            r.messages.map((message) => partition({ topic: r.topic, partitionMetadata, message })),
          );
          return [...written].map((p) => ({ topicName: r.topic, partition: p, errorCode: 0 }));
        },
      };
    },
  } as unknown as Kafka;
  return { kafka, sent, options, state };
}

const ev = (i: number): BehaviourEvent => ({
  schema_version: 1,
  event_id: `e${i}`,
  type: 'click',
  ts_ms: 1_767_225_600_000 + i,
  user_id: `u${i % 3}`,
  item_id: `i${i}`,
  request_id: 'r',
});

describe('EventProducer', () => {
  it('is idempotent, keys events by user_id and sends in batches', async () => {
    const f = fakeKafka();
    const p = new EventProducer(f.kafka, { eventsTopic: 'ev', itemsTopic: 'it', batchSize: 2 });
    await p.sendEvents([ev(0), ev(1), ev(2)]);
    await p.close();
    expect(f.options[0]).toMatchObject({ idempotent: true });
    // Its own partitioner, so that what kafkajs leaves unwritten is sent again (AcknowledgedSender).
    expect(typeof f.options[0]!.createPartitioner).toBe('function');
    expect(f.sent.map((r) => r.messages.length)).toEqual([2, 1]);
    expect(f.sent.every((r) => r.topic === 'ev' && r.acks === -1)).toBe(true);
    const msgs = f.sent.flatMap((r) => r.messages);
    expect(msgs.map((m) => m.key)).toEqual(['u0', 'u1', 'u2']);
    expect(JSON.parse(String(msgs[1]!.value))).toEqual(ev(1));
    expect(f.state).toEqual({ connected: 1, disconnected: 1 });
  });

  it('keys items by item_id', async () => {
    const f = fakeKafka();
    const p = new EventProducer(f.kafka, { eventsTopic: 'ev', itemsTopic: 'it' });
    await p.sendItems([{ schema_version: 1, item_id: 'x', ts_ms: 1_767_225_600_000, title: 't' }]);
    expect(f.sent[0]).toMatchObject({ topic: 'it', messages: [{ key: 'x' }] });
  });

  it('rejects a call with an invalid record before sending anything', async () => {
    const f = fakeKafka();
    const p = new EventProducer(f.kafka, { eventsTopic: 'ev', itemsTopic: 'it' });
    const bad = { ...ev(1), type: 'view' } as unknown as BehaviourEvent;
    await expect(p.sendEvents([ev(0), bad])).rejects.toThrow(InvalidRecordError);
    await expect(p.sendEvents([bad])).rejects.toThrow(/#0 schema: \/type/);
    expect(f.sent).toEqual([]);
  });

  it('refuses a record with a lone surrogate, naming the field, with or without validation', async () => {
    const f = fakeKafka();
    const item: CatalogueItem = {
      schema_version: 1,
      item_id: 'x',
      ts_ms: 1_767_225_600_000,
      title: '\ud800',
    };
    for (const validate of [true, false]) {
      const p = new EventProducer(f.kafka, { eventsTopic: 'ev', itemsTopic: 'it', validate });
      await expect(p.sendItems([item])).rejects.toThrow(/#0 (schema: )?\/title is not well-formed Unicode/);
      await expect(p.sendEvents([{ ...ev(0), user_id: 'u\udc00' }])).rejects.toThrow(
        /\/user_id is not well-formed/,
      );
    }
    expect(f.sent).toEqual([]);
  });

  it('refuses a record whose encoding exceeds MAX_MESSAGE_BYTES, even without validation', async () => {
    const f = fakeKafka();
    const p = new EventProducer(f.kafka, { eventsTopic: 'ev', itemsTopic: 'it', validate: false });
    const big = { ...ev(0), request_id: 'x'.repeat(MAX_MESSAGE_BYTES) };
    const size = Buffer.byteLength(JSON.stringify(big));
    await expect(p.sendEvents([ev(1), big])).rejects.toThrow(
      `1 invalid record(s): #1 oversized: ${size} bytes > MAX_MESSAGE_BYTES (${MAX_MESSAGE_BYTES})`,
    );
    // Just under the limit (measured in UTF-8 bytes, not characters) is sent.
    const base = Buffer.byteLength(JSON.stringify({ ...ev(0), request_id: '' }));
    const fits = { ...ev(0), request_id: '😀'.repeat(Math.floor((MAX_MESSAGE_BYTES - base) / 4)) };
    await p.sendEvents([fits]);
    expect(f.sent.flatMap((r) => r.messages).map((m) => JSON.parse(String(m.value)) as unknown)).toEqual([
      fits,
    ]);
  });

  it('sends raw buffers byte for byte but refuses strings kafkajs would rewrite', async () => {
    const f = fakeKafka();
    const p = new EventProducer(f.kafka, { eventsTopic: 'ev', itemsTopic: 'it' });
    const bytes = Buffer.from([0xff, 0xfe, 0x00]);
    await p.sendRaw('ev', [{ key: 'k', value: bytes }]);
    expect(f.sent[0]!.messages[0]!.value).toBe(bytes);
    await expect(p.sendRaw('ev', [{ key: 'k', value: '\ud800' }])).rejects.toThrow(
      /#0 value is not well-formed/,
    );
    await expect(p.sendRaw('ev', [{ key: '\udc00', value: 'v' }])).rejects.toThrow(
      /#0 key is not well-formed/,
    );
    expect(f.sent).toHaveLength(1);
  });
});

describe('chunkMessages', () => {
  it('bounds requests by count and by bytes, sending an oversized message alone', () => {
    const m = (n: number) => ({ value: 'x'.repeat(n) });
    const sizes = (batches: { value: string }[][]) => batches.map((b) => b.map((x) => x.value.length));
    expect(sizes(chunkMessages([m(1), m(1), m(1)], 2, 1_000))).toEqual([[1, 1], [1]]);
    expect(sizes(chunkMessages([m(300), m(300), m(2_000), m(10)], 100, 1_000))).toEqual([
      [300, 300],
      [2_000],
      [10],
    ]);
    expect(chunkMessages([], 10, 10)).toEqual([]);
  });
});
