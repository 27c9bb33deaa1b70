import { Inject, Injectable } from '@nestjs/common';
import { ClickHouseService, type QueryParams } from '@mmctr/clickhouse';
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

/** Where stored vectors are read: the table, its key and vector columns, and which rows hold them. */
interface VectorTable {
  table: string;
  key: string;
  vec: string;
  where: string;
}

/** The catalogue's fused vectors, of projection {pv:String} (empty: any). */
const ITEM_VECTORS: VectorTable = {
  table: 'item_embeddings',
  key: 'item_id',
  vec: 'fused_vec',
  where: "({pv:String} = '' OR projection_version = {pv:String})",
};

/** A repository-declared embedding's vectors ({emb:String} of {entity:String}): no projection. */
const ENTITY_VECTORS: VectorTable = {
  table: 'entity_embeddings',
  key: 'entity_key',
  vec: 'vec',
  where: 'embedding = {emb:String} AND entity = {entity:String}',
};

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
    const [from, params]: [VectorTable, QueryParams] =
      this.entityEmbedding === undefined
        ? [ITEM_VECTORS, { pv: projectionVersion }]
        : [ENTITY_VECTORS, { emb: this.entityEmbedding, entity: this.entity }];
    const { table, key, vec, where } = from;
    // `v`, not the column's name: an alias named like the column would shadow it in WHERE.
    const rows = await this.ch.query<
      Record<string, unknown> & { v: number[]; latest_created_ms: string | number }
    >(
      `SELECT ${key}, argMax(${vec}, created_ms) AS v, max(created_ms) AS latest_created_ms
       FROM ${table}
       WHERE ${key} > {after:String} AND notEmpty(${vec}) AND ${where}
       GROUP BY ${key} HAVING latest_created_ms > {since:UInt64}
       ORDER BY ${key} LIMIT ${pageSize(limit)}`,
      { ...params, after: afterId, since: sinceMs },
    );
    return rows.map((r) => ({
      item_id: String(r[key]),
      fused_vec: r.v,
      created_ms: Number(r.latest_created_ms),
    }));
  }
}
