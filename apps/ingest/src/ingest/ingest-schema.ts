import type { AppConfig } from '@mmctr/config';
import {
  compileEntityContract,
  compileEntityEncoder,
  compileEventContract,
  compileEventsEncoder,
  embeddingJobs,
  entityTopic,
  TEXT_ENCODER_WIDTH,
  eventsTable,
  historySequences,
  snapshotEntities,
  type ContractResult,
  type Entity,
  type EntityEmbeddingSpec,
  type FeatureRepo,
  type NormalisedRecord,
  type RowEncoder,
  type TableColumn,
} from '@mmctr/feature-repo';
import { contentHash, type BehaviourList } from '@mmctr/online-store';
import type { CatalogueItem } from '@mmctr/contracts';

/** What ingest does with one topic's messages: the contract they must meet and the table they go to. */
export interface Stream {
  readonly topic: string;
  readonly check: (parsed: unknown) => ContractResult;
  readonly encoder: RowEncoder;
}

/** A snapshot entity's stream; `catalogue` is the demo item (online item hash and embedding jobs). */
export interface EntityStream extends Stream {
  readonly entity: Entity;
  readonly attributes: readonly string[];
  readonly catalogue: boolean;
  /** The repository's embeddings of this entity (not the catalogue's): each snapshot enqueues their jobs. */
  readonly embeddings: readonly EntityEmbeddingSpec[];
}

/** Everything ingest derives from the running feature repository and the tables' actual columns. */
export interface IngestSchema {
  readonly repo: FeatureRepo;
  readonly events: Stream;
  readonly entities: readonly EntityStream[];
  /** The behaviour lists of the repository's user-owned sequences. */
  readonly lists: readonly BehaviourList[];
}

/** The topics ingest consumes for `repo`: the events topic and each snapshot entity's. */
export const ingestTopics = (
  repo: FeatureRepo,
  config: Pick<AppConfig, 'KAFKA_TOPIC_EVENTS' | 'KAFKA_TOPIC_ITEMS' | 'KAFKA_TOPIC_ENTITY_PATTERN'>,
) => [config.KAFKA_TOPIC_EVENTS, ...snapshotEntities(repo).map((e) => entityTopic(e, config))];

/** The demo item: its online hash is the scorer's item hash (plain strings) and it gets embedding jobs. */
export const isCatalogue = (entity: Pick<Entity, 'name'>): boolean => entity.name === 'item';

/** The demo items table's content_hash: the item's content, as the online store and embedder key it. */
const CATALOGUE_COLUMNS = {
  content_hash: (r: NormalisedRecord) => contentHash(r as unknown as CatalogueItem),
};

/**
 * Compiles the contracts and row encoders once, at startup, from `columns(table)` (system.columns).
 * A declared attribute without a column fails here, naming table and column.
 */
export async function loadIngestSchema(
  repo: FeatureRepo,
  config: Pick<
    AppConfig,
    'KAFKA_TOPIC_EVENTS' | 'KAFKA_TOPIC_ITEMS' | 'KAFKA_TOPIC_ENTITY_PATTERN' | 'CLICKHOUSE_DATABASE'
  >,
  columns: (table: string) => Promise<readonly TableColumn[]>,
): Promise<IngestSchema> {
  const database = config.CLICKHOUSE_DATABASE;
  const source = async (table: string) => ({ database, table, columns: await columns(table) });
  const events: Stream = {
    topic: config.KAFKA_TOPIC_EVENTS,
    check: compileEventContract(repo).check,
    encoder: compileEventsEncoder(repo, await source(eventsTable(repo))),
  };
  const entities: EntityStream[] = [];
  // Only jobs the text encoder can fill: another width would fail every job in the embedder.
  const { specs } = embeddingJobs(repo, TEXT_ENCODER_WIDTH);
  for (const entity of snapshotEntities(repo)) {
    const catalogue = isCatalogue(entity);
    entities.push({
      entity,
      topic: entityTopic(entity, config),
      check: compileEntityContract(repo, entity.name).check,
      encoder: compileEntityEncoder(
        repo,
        entity.name,
        await source(entity.table!),
        catalogue ? CATALOGUE_COLUMNS : {},
      ),
      attributes: (entity.attributes ?? []).map((a) => a.name),
      catalogue,
      embeddings: specs.filter((s) => s.entity === entity.name),
    });
  }
  const lists = historySequences(repo).map((s) => ({
    keyInfix: s.keyInfix,
    types: s.eventTypes,
    ownerKey: s.ownerKey,
    targetKey: s.targetKey,
  }));
  return { repo, events, entities, lists };
}
