import type { Kafka, ProducerRecord } from 'kafkajs';
import type { BehaviourEvent } from '@mmctr/contracts';
import { EventProducer, InvalidRecordError, chunkMessages } from './event-producer';

function fakeKafka() {
  const sent: ProducerRecord[] = [];
  const options: unknown[] = [];
  const state = { connected: 0, disconnected: 0 };
  const kafka = {
    producer: (opts: unknown) => {
      options.push(opts);
      return {
        connect: async () => void state.connected++,
        disconnect: async () => void state.disconnected++,
        send: async (r: ProducerRecord) => void sent.push(r),
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
