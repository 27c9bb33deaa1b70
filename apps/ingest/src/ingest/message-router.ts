import { decode, type BehaviourEvent, type CatalogueItem, DLQ_HEADERS } from '@mmctr/contracts';

/** The parts of a Kafka message the router reads (kafkajs's KafkaMessage fits). */
export interface RawMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, unknown>;
}

/** A message that cannot be stored, with why, on its way to the dead-letter topic. */
export interface DeadLetter {
  reason: string;
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

export type ContractKind = 'event' | 'item';
export type Record_<K extends ContractKind> = K extends 'event' ? BehaviourEvent : CatalogueItem;

export interface Routed<K extends ContractKind> {
  valid: Record_<K>[];
  invalid: DeadLetter[];
}

/** Splits one partition's messages into decoded records and dead letters (nothing is dropped). */
export function routeMessages<K extends ContractKind>(
  kind: K,
  topic: string,
  partition: number,
  messages: readonly RawMessage[],
): Routed<K> {
  const valid: Record_<K>[] = [];
  const invalid: DeadLetter[] = [];
  for (const m of messages) {
    const r = decode(kind, m.value);
    if (r.ok) valid.push(r.value as Record_<K>);
    else invalid.push({ reason: r.reason, topic, partition, offset: m.offset, key: m.key, value: m.value });
  }
  return { valid, invalid };
}

/** The dead-letter message: original key and bytes, the reason and origin in headers. */
export function deadLetterMessage(d: DeadLetter): {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
} {
  return {
    key: d.key,
    value: d.value,
    headers: {
      [DLQ_HEADERS.reason]: d.reason,
      [DLQ_HEADERS.topic]: d.topic,
      [DLQ_HEADERS.partition]: String(d.partition),
      [DLQ_HEADERS.offset]: d.offset,
    },
  };
}
