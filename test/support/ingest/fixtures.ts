import type { Kafka } from 'kafkajs';
import type Redis from 'ioredis';
import type { AppConfig } from '@mmctr/config';
import { MAX_MESSAGE_BYTES, type BehaviourEvent } from '@mmctr/contracts';
import { ensureTopics, platformTopics, withKafkaAdmin } from '@mmctr/kafka';
import { uniqueName } from '../clients';
import { deleteTopicsStartingWith } from '../kafka-group';
import { deleteKeysMatching } from '@mmctr/online-store';

/** Names that keep one test's data apart from everyone else's: topics, group, Redis prefix, queue. */
export function isolatedNames(tag: string) {
  const id = uniqueName(tag).replace(/_/g, '-');
  return {
    id,
    prefix: `${id}-`,
    env: {
      KAFKA_TOPIC_EVENTS: `mmctr.test.${id}.events`,
      KAFKA_TOPIC_ITEMS: `mmctr.test.${id}.items`,
      KAFKA_TOPIC_DLQ: `mmctr.test.${id}.dlq`,
      INGEST_GROUP_ID: `mmctr-test-${id}`,
      REDIS_KEY_PREFIX: `mmctr-test:${id}:`,
      EMBEDDINGS_QUEUE: `mmctr-test-${id}-emb`,
    },
  };
}

export type IsolatedNames = ReturnType<typeof isolatedNames>;

export async function createTestTopics(kafka: Kafka, config: AppConfig, names: IsolatedNames): Promise<void> {
  const cfg = { ...config, ...names.env };
  const wanted = new Set([cfg.KAFKA_TOPIC_EVENTS, cfg.KAFKA_TOPIC_ITEMS, cfg.KAFKA_TOPIC_DLQ]);
  await ensureTopics(
    kafka,
    platformTopics(cfg).filter((t) => wanted.has(t.topic)),
  );
}

export async function cleanup(kafka: Kafka, redis: Redis, names: IsolatedNames): Promise<void> {
  await withKafkaAdmin(kafka, async (admin) => {
    await admin.deleteGroups([names.env.INGEST_GROUP_ID]).catch(() => undefined);
  });
  // Every topic of the test's own: the platform's three and any entity snapshot topic it made.
  await deleteTopicsStartingWith(kafka, `mmctr.test.${names.id}.`);
  for (const pattern of [`${names.env.REDIS_KEY_PREFIX}*`, `bull:${names.env.EMBEDDINGS_QUEUE}:*`]) {
    await deleteKeysMatching(redis, pattern);
  }
}

export type MalformedKind = 'bad JSON' | 'missing field' | 'wrong type' | 'oversized';

/** `n` malformed messages, a quarter of each kind, each recognisable by its bytes. */
export function makeMalformed(prefix: string, n: number, template: BehaviourEvent) {
  const kinds: MalformedKind[] = ['bad JSON', 'missing field', 'wrong type', 'oversized'];
  return Array.from({ length: n }, (_, i) => {
    const kind = kinds[i % kinds.length]!;
    const base = { ...template, event_id: `${prefix}bad${i}`, user_id: `${prefix}bad-user` };
    let value: string;
    if (kind === 'bad JSON') value = JSON.stringify(base).slice(0, -7);
    else if (kind === 'missing field') {
      const { user_id: _u, ...rest } = base;
      value = JSON.stringify(rest);
    } else if (kind === 'wrong type') value = JSON.stringify({ ...base, ts_ms: String(base.ts_ms) });
    else value = JSON.stringify({ ...base, request_id: 'x'.repeat(MAX_MESSAGE_BYTES) });
    return { kind, key: base.user_id, value };
  });
}

/** Which reason prefix ingest gives each kind. */
export const reasonPattern: Record<MalformedKind, RegExp> = {
  'bad JSON': /^bad JSON/,
  'missing field': /^schema: missing required field 'user_id'$/,
  'wrong type': /^schema: field 'ts_ms': expected int, got string "\d+"$/,
  oversized: /^oversized/,
};
