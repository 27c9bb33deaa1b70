import { rowBinaryEncoder, type ClickHouseService } from '@mmctr/clickhouse';
import { BatchedInsertRepository, type BatchOptions } from './batched-insert';

/** One entity_embeddings row (migrations/0020): an entity's vector of one embedding, keyed by its inputs' hash. */
export interface EntityEmbeddingRow {
  embedding: string;
  entity: string;
  entity_key: string;
  content_hash: string;
  vec: ArrayLike<number>;
  encoder: string;
  created_ms: number;
  created_at: number;
}

/** entity_embeddings (migrations/0020), column by column. */
const ENTITY_EMBEDDING_ROWS = rowBinaryEncoder<EntityEmbeddingRow>('entity_embeddings', [
  ['embedding', 'String'],
  ['entity', 'String'],
  ['entity_key', 'String'],
  ['content_hash', 'String'],
  ['vec', 'Array(Float32)'],
  ['encoder', 'String'],
  ['created_ms', 'UInt64'],
  ['created_at', 'DateTime'],
]);

/**
 * entity_embeddings writes, batched like item_embeddings' (rows of concurrent jobs share an insert), and
 * the backfill's read of what is stored.
 */
export class EntityEmbeddingRepository extends BatchedInsertRepository<EntityEmbeddingRow> {
  constructor(clickhouse: ClickHouseService, opts: BatchOptions = {}) {
    super(clickhouse, ENTITY_EMBEDDING_ROWS, opts);
  }

  /**
   * `entity_key\tcontent_hash` of the vectors stored for this embedding by this encoder, for the keys
   * from `first` to `last` (inclusive, ClickHouse's string order: a page of the entity's table).
   */
  async storedHashes(
    q: { embedding: string; entity: string; encoder: string },
    first: string,
    last: string,
  ): Promise<Set<string>> {
    const rows = await this.clickhouse.query<{ entity_key: string; content_hash: string }>(
      `SELECT DISTINCT entity_key, content_hash FROM entity_embeddings
       WHERE embedding = {e:String} AND entity = {n:String} AND encoder = {enc:String}
         AND entity_key >= {first:String} AND entity_key <= {last:String}`,
      { e: q.embedding, n: q.entity, enc: q.encoder, first, last },
    );
    return new Set(rows.map((r) => `${r.entity_key}\t${r.content_hash}`));
  }
}
