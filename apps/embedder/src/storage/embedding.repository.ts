import { rowBinaryEncoder, type ClickHouseService, type HealthStatus } from '@mmctr/clickhouse';
import type { ItemFeatures } from '@mmctr/online-store';
import { BatchedInsertRepository, type BatchOptions } from './batched-insert';

/** One item_embeddings row, every column; vectors as the encoders gave them (written as raw float32). */
export interface EmbeddingRow {
  item_id: string;
  content_hash: string;
  image_vec: ArrayLike<number>;
  text_vec: ArrayLike<number>;
  fused_vec: ArrayLike<number>;
  image_encoder: string;
  text_encoder: string;
  projection_version: string;
  created_ms: number;
  created_at: number;
}

/** item_embeddings (migrations/0002), column by column. */
const EMBEDDING_ROWS = rowBinaryEncoder<EmbeddingRow>('item_embeddings', [
  ['item_id', 'String'],
  ['content_hash', 'String'],
  ['image_vec', 'Array(Float32)'],
  ['text_vec', 'Array(Float32)'],
  ['fused_vec', 'Array(Float32)'],
  ['image_encoder', 'String'],
  ['text_encoder', 'String'],
  ['projection_version', 'String'],
  ['created_ms', 'UInt64'],
  ['created_at', 'DateTime'],
]);

/** An item's current vectors, as a refit reads them (currentVectors). */
export interface StoredVectors {
  item_id: string;
  content_hash: string;
  ts_ms: number;
  image_vec: number[];
  text_vec: number[];
}

/** The embedder's ClickHouse access: item_embeddings writes, catalogue and vector reads. */
export class EmbeddingRepository extends BatchedInsertRepository<EmbeddingRow> {
  constructor(clickhouse: ClickHouseService, opts: BatchOptions = {}) {
    super(clickhouse, EMBEDDING_ROWS, opts);
  }

  /** One insert of these rows now, not batched. */
  async storeMany(rows: EmbeddingRow[]): Promise<void> {
    await this.inserts.insert(rows);
  }

  /** Whether ClickHouse answers, and its version (the readiness check). */
  ping(): Promise<HealthStatus> {
    return this.clickhouse.health();
  }

  /** Current version of every catalogue item (or of one). */
  async catalogue(itemId?: string): Promise<ItemFeatures[]> {
    const where = itemId === undefined ? '' : 'WHERE item_id = {id:String}';
    const rows = await this.clickhouse.query<ItemFeatures & { ts_ms: string | number }>(
      `SELECT item_id, latest_ts_ms AS ts_ms, title, description, category, tags, image, content_hash
       FROM items_latest ${where} ORDER BY item_id`,
      itemId === undefined ? undefined : { id: itemId },
    );
    return rows.map((r) => ({ ...r, ts_ms: Number(r.ts_ms) }));
  }

  /** `item_id\tcontent_hash` of items already embedded by these encoders under this projection. */
  async embeddedKeys(encoders: { image: string; text: string }, projection: string): Promise<Set<string>> {
    const rows = await this.clickhouse.query<{ item_id: string; content_hash: string }>(
      `SELECT item_id, content_hash FROM item_embeddings_latest
       WHERE projection_version = {p:String} AND image_encoder = {ie:String} AND text_encoder = {te:String}`,
      { p: projection, ie: encoders.image, te: encoders.text },
    );
    return new Set(rows.map((r) => `${r.item_id}\t${r.content_hash}`));
  }

  /**
   * The newest image and text vectors of every item whose current content they were computed from,
   * by these encoders (whatever projection they were stored under): what a refit reads.
   */
  async currentVectors(
    encoders: { image: string; text: string },
    itemIds?: string[],
  ): Promise<StoredVectors[]> {
    const only = itemIds ? 'AND item_id IN {ids:Array(String)}' : '';
    const rows = await this.clickhouse.query<StoredVectors & { ts_ms: string | number }>(
      `SELECT item_id, content_hash, ts_ms, image_vec, text_vec
       FROM
       (
           SELECT item_id, argMax(content_hash, created_ms) AS content_hash,
                  argMax(image_vec, created_ms) AS image_vec, argMax(text_vec, created_ms) AS text_vec
           FROM item_embeddings
           WHERE image_encoder = {ie:String} AND text_encoder = {te:String} ${only}
           GROUP BY item_id
       ) AS vectors
       ANY INNER JOIN
       (
           SELECT item_id, content_hash AS current_hash, latest_ts_ms AS ts_ms FROM items_latest
       ) AS current USING (item_id)
       WHERE content_hash = current_hash
       ORDER BY item_id`,
      { ie: encoders.image, te: encoders.text, ...(itemIds ? { ids: itemIds } : {}) },
    );
    return rows.map((r) => ({ ...r, ts_ms: Number(r.ts_ms) }));
  }
}
