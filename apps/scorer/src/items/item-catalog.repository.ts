import { Inject, Injectable } from '@nestjs/common';
import { ClickHouseService } from '@mmctr/clickhouse';
import type { RawValue } from '@mmctr/features';
import { SERVING_LAYOUT } from '../layout/layout.module';
import type { ServingLayout } from '../layout/serving-layout';

// LIMIT takes no bound parameter on 18.16: a validated integer literal.
const pageSize = (n: number): number => {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`bad page size ${n}`);
  return n;
};

export interface CatalogRow {
  item_id: string;
  /** The attributes the layout reads, by name. */
  attributes: Record<string, RawValue>;
  ts_ms: number;
  ingested_s: number;
}

export interface VectorRow {
  item_id: string;
  fused_vec: number[];
  created_ms: number;
}

/** Table and column names are spliced into SQL (ClickHouse binds values only): plain identifiers. */
function identifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    throw new Error(`'${name}' is not a plain column or table name`);
  return name;
}

/**
 * Item features (the attributes the serving layout reads) and fused vectors from ClickHouse. Reads the base tables with the same argMax as the
 * items_latest / item_embeddings_latest views, paged by item_id (the sort key) so the initial load
 * never materialises the whole catalogue in one response, and filtered by a watermark for refreshes.
 */
@Injectable()
export class ItemCatalogRepository {
  private readonly table: string;
  private readonly key: string;
  private readonly columns: string[];
  private readonly vectorsStored: boolean;
  /** The entity embedding the item cache holds (entity_embeddings), undefined for the catalogue's. */
  private readonly entityEmbedding: string | undefined;
  private readonly entity: string;

  constructor(
    private readonly ch: ClickHouseService,
    @Inject(SERVING_LAYOUT) layout: ServingLayout,
  ) {
    this.table = identifier(layout.itemTable);
    this.key = identifier(layout.candidateKey);
    this.vectorsStored = layout.embedding !== undefined;
    this.entityEmbedding = layout.embedding?.store === 'entity' ? layout.embedding.name : undefined;
    this.entity = layout.candidateEntity;
    this.columns = layout.itemAttributes.map((a) => identifier(a.name));
  }

  /** Newest version of items after `afterId` (paging) that were ingested at or after `sinceS`. */
  async items(afterId: string, sinceS: number, limit: number): Promise<CatalogRow[]> {
    const attributes = this.columns.map((c) => `argMax(${c}, ts_ms) AS ${c}, `).join('');
    const key = this.key;
    const rows = await this.ch.query<
      Record<string, RawValue> & {
        latest_ts_ms: string | number;
        ingested_s: string | number;
      }
    >(
      `SELECT ${key}, ${attributes}max(ts_ms) AS latest_ts_ms, toUInt32(max(ingested_at)) AS ingested_s
       FROM ${this.table}
       WHERE ${key} > {after:String} AND ${key} IN (
         SELECT ${key} FROM ${this.table} WHERE ingested_at >= toDateTime({since:UInt32}))
       GROUP BY ${key} ORDER BY ${key} LIMIT ${pageSize(limit)}`,
      { after: afterId, since: sinceS },
    );
    return rows.map((r) => ({
      item_id: String(r[key]),
      attributes: Object.fromEntries(this.columns.map((c) => [c, r[c]])),
      ts_ms: Number(r.latest_ts_ms),
      ingested_s: Number(r.ingested_s),
    }));
  }

  /** Newest fused vector of items after `afterId` whose newest vector was created after `sinceMs`. */
  async vectors(
    afterId: string,
    sinceMs: number,
    projectionVersion: string,
    limit: number,
  ): Promise<VectorRow[]> {
    // Only the embedding the layout stores is read (ServingLayout.embedding); others read as zeros.
    if (!this.vectorsStored) return [];
    if (this.entityEmbedding !== undefined)
      return this.entityVectors(this.entityEmbedding, afterId, sinceMs, limit);
    const rows = await this.ch.query<{
      item_id: string;
      vec: number[];
      latest_created_ms: string | number;
    }>(
      `SELECT item_id, argMax(fused_vec, created_ms) AS vec, max(created_ms) AS latest_created_ms
       FROM item_embeddings
       WHERE item_id > {after:String} AND notEmpty(fused_vec)
         AND ({pv:String} = '' OR projection_version = {pv:String})
       GROUP BY item_id HAVING latest_created_ms > {since:UInt64}
       ORDER BY item_id LIMIT ${pageSize(limit)}`,
      { after: afterId, since: sinceMs, pv: projectionVersion },
    );
    return rows.map((r) => ({
      item_id: r.item_id,
      fused_vec: r.vec,
      created_ms: Number(r.latest_created_ms),
    }));
  }

  /** The same read of a repository-declared embedding's vectors (entity_embeddings, no projection). */
  private async entityVectors(
    embedding: string,
    afterId: string,
    sinceMs: number,
    limit: number,
  ): Promise<VectorRow[]> {
    // `v`, not `vec`: an alias named like the column would shadow it in WHERE.
    const rows = await this.ch.query<{
      entity_key: string;
      v: number[];
      latest_created_ms: string | number;
    }>(
      `SELECT entity_key, argMax(vec, created_ms) AS v, max(created_ms) AS latest_created_ms
       FROM entity_embeddings
       WHERE embedding = {emb:String} AND entity = {entity:String} AND entity_key > {after:String}
         AND notEmpty(vec)
       GROUP BY entity_key HAVING latest_created_ms > {since:UInt64}
       ORDER BY entity_key LIMIT ${pageSize(limit)}`,
      { emb: embedding, entity: this.entity, after: afterId, since: sinceMs },
    );
    return rows.map((r) => ({
      item_id: r.entity_key,
      fused_vec: r.v,
      created_ms: Number(r.latest_created_ms),
    }));
  }
}
