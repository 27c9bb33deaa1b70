import type { AppConfig } from '@mmctr/config';
import type { Entity, FeatureRepo, SequenceFeature } from '../types';
import { findEntity } from './entity-contract';

/** Entities whose attributes arrive as snapshots on a topic of their own and are stored in their table. */
export const snapshotEntities = (repo: FeatureRepo): Entity[] =>
  repo.entities.filter((e) => e.updates === 'snapshot' && e.table !== undefined);

export type TopicConfig = Pick<AppConfig, 'KAFKA_TOPIC_ITEMS' | 'KAFKA_TOPIC_ENTITY_PATTERN'>;

/**
 * The Kafka topic of an entity's snapshots: the `item` entity keeps KAFKA_TOPIC_ITEMS (the demo
 * catalogue, mmctr.items.v1); every other one is KAFKA_TOPIC_ENTITY_PATTERN with its table
 * (`mmctr.<table>.v1`).
 */
export function entityTopic(entity: Entity, config: TopicConfig): string {
  if (entity.name === 'item') return config.KAFKA_TOPIC_ITEMS;
  return config.KAFKA_TOPIC_ENTITY_PATTERN.replace('{table}', entity.table ?? entity.name);
}

/** A user-owned sequence as the online store keeps it: one list per owner key. */
export interface HistorySequence {
  readonly name: string;
  /** Inserted after `hist:` in the list's key: '' for the first sequence (`hist:<user>`), else `<name>:`. */
  readonly keyInfix: string;
  readonly eventTypes: readonly string[];
  /** Event fields naming the list's owner and each entry's target. */
  readonly ownerKey: string;
  readonly targetKey: string;
}

/**
 * The online behaviour lists ingest maintains: one per sequence feature owned by `user`, fed by its
 * event types. The first keeps the historical key `hist:<user_id>` (the scorer's), later ones get
 * `hist:<sequence>:<user_id>`, so append new sequences after existing ones.
 */
export function historySequences(repo: FeatureRepo): HistorySequence[] {
  return repo.features
    .filter((f): f is SequenceFeature => f.kind === 'sequence' && f.owner === 'user')
    .map((s, i) => ({
      name: s.name,
      keyInfix: i === 0 ? '' : `${s.name}:`,
      eventTypes: s.event_types,
      ownerKey: findEntity(repo, s.owner).key,
      targetKey: findEntity(repo, s.target).key,
    }));
}
