import { decode, type BehaviourEvent, type CatalogueItem } from '@mmctr/contracts';
import type { DeadLetterInput } from '@mmctr/kafka';

/** The parts of a Kafka message the router reads (kafkajs's KafkaMessage fits). */
export interface RawMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, unknown>;
}

export type ContractKind = 'event' | 'item';
export type Record_<K extends ContractKind> = K extends 'event' ? BehaviourEvent : CatalogueItem;

export interface Routed<K extends ContractKind> {
  valid: Record_<K>[];
  invalid: DeadLetterInput[];
}

/** Splits one partition's messages into decoded records and dead letters (nothing is dropped). */
export function routeMessages<K extends ContractKind>(
  kind: K,
  topic: string,
  partition: number,
  messages: readonly RawMessage[],
): Routed<K> {
  const valid: Record_<K>[] = [];
  const invalid: DeadLetterInput[] = [];
  for (const m of messages) {
    const r = decode(kind, m.value);
    if (r.ok) valid.push(r.value as Record_<K>);
    else invalid.push({ reason: r.reason, topic, partition, offset: m.offset, key: m.key, value: m.value });
  }
  return { valid, invalid };
}
