import { decodeWith } from '@mmctr/contracts';
import type { ContractResult, NormalisedRecord } from '@mmctr/feature-repo';
import type { DeadLetterInput } from '@mmctr/kafka';

/** The parts of a Kafka message the router reads (kafkajs's KafkaMessage fits). */
export interface RawMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, unknown>;
}

export interface Routed {
  valid: NormalisedRecord[];
  invalid: DeadLetterInput[];
}

/**
 * Splits one partition's messages into normalised records and dead letters (nothing is dropped):
 * size, UTF-8 and JSON checks, then `check`, the topic's compiled contract.
 */
export function routeMessages(
  check: (parsed: unknown) => ContractResult,
  topic: string,
  partition: number,
  messages: readonly RawMessage[],
): Routed {
  const valid: NormalisedRecord[] = [];
  const invalid: DeadLetterInput[] = [];
  for (const m of messages) {
    const r = decodeWith(m.value, check);
    if (r.ok) valid.push(r.value);
    else invalid.push({ reason: r.reason, topic, partition, offset: m.offset, key: m.key, value: m.value });
  }
  return { valid, invalid };
}
