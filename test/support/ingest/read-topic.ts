import type { Kafka } from 'kafkajs';
import { consumeFromStart } from '../kafka-group';

export interface ReadMessage {
  key: string | null;
  value: string;
  /** The value's bytes as stored (no decoding). */
  raw: Buffer;
  valueBytes: number;
  partition: number;
  offset: string;
  headers: Record<string, string>;
}

/** Reads `expected` messages from the start of `topic` with a throw-away consumer group. */
export async function readTopic(kafka: Kafka, topic: string, expected: number, timeoutMs = 60_000) {
  const out: ReadMessage[] = [];
  await consumeFromStart(
    kafka,
    topic,
    'reader',
    {
      timeoutMs,
      timeoutMessage: () => `only ${out.length}/${expected} messages on ${topic}`,
      settleMs: 500, // let any unexpected extra message arrive before counting
    },
    (done) => ({
      eachMessage: async ({ message, partition }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        out.push({
          key: message.key?.toString() ?? null,
          value: message.value?.toString() ?? '',
          raw: message.value ?? Buffer.alloc(0),
          valueBytes: message.value?.length ?? 0,
          partition,
          offset: message.offset,
          headers,
        });
        if (out.length >= expected) done();
      },
    }),
  );
  return out;
}
