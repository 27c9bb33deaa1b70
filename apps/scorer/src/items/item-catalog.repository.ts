import { Inject, Injectable } from '@nestjs/common';
import {
  ClickHouseService,
  RowBinaryReader,
  keysetPageEnd,
  type PageEnd,
  type QueryParams,
} from '@mmctr/clickhouse';
import type { RawValue } from '@mmctr/features';
import { SERVING_LAYOUT } from '../layout/layout.module';
import type { ServingLayout } from '../layout/serving-layout';

export interface CatalogRow {
  item_id: string;
  /** The attributes the layout reads, by name. */
  attributes: Record<string, RawValue>;
  ts_ms: number;
  ingested_s: number;
}

/** Rows stored in a span of a watermark: how many, and a sum of their (key, version) hashes. */
export interface RowsDigest {
  rows: number;
  /** Decimal UInt64: a new version, or a merge dropping a duplicate, changes it. */
  hash: string;
}

/** The digest of one bucket of a watermark column: the rows whose value divided by the width is `bucket`. */
export interface BucketDigest extends RowsDigest {
  bucket: number;
}

export interface VectorRow {
  item_id: string;
  fused_vec: ArrayLike<number>;
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

/** Catalogue rows ingested at or after {since:UInt32}, and before {until:UInt32} when `until` is set. */
const itemsIngestedIn = (until: number | undefined): string =>
  'ingested_at >= toDateTime({since:UInt32})' +
  (until === undefined ? '' : ' AND ingested_at < toDateTime({until:UInt32})');

/** Vector rows created after {since:UInt64}, and before {until:UInt64} when `until` is set. */
const vectorsCreatedIn = (until: number | undefined): string =>
  'created_ms > {since:UInt64}' + (until === undefined ? '' : ' AND created_ms < {until:UInt64}');

/** The {until} parameter of those conditions, when set. */
const untilParam = (until: number | undefined): QueryParams => (until === undefined ? {} : { until });

/** Table and column names are spliced into SQL (ClickHouse binds values only): plain identifiers. */
function identifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    throw new Error(`'${name}' is not a plain column or table name`);
  return name;
}

/**
 * Item features (the attributes the serving layout reads) and fused vectors from ClickHouse. Reads the base tables with the same argMax as the
 * items_latest / item_embeddings_latest views, in pages of item_id ranges (the sort key) so the initial load
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

  /**
   * The next page of items ingested at or after `sinceS` (and before `untilS`): keys after `afterId`
   * (keysetPageEnd).
   */
  itemPage(afterId: string, sinceS: number, limit: number, untilS?: number): Promise<PageEnd | undefined> {
    return keysetPageEnd(this.ch, {
      table: this.table,
      key: this.key,
      after: afterId,
      limit,
      where: itemsIngestedIn(untilS),
      params: { since: sinceS, ...untilParam(untilS) },
    });
  }

  /** The item rows ingested from `fromS` to `toS`, both included (ingested_at and the key columns only). */
  itemsIngested(fromS: number, toS: number): Promise<RowsDigest> {
    return this.digest(
      this.table,
      `${this.key}, ts_ms`,
      `${itemsIngestedIn(undefined)} AND ingested_at <= toDateTime({to:UInt32})`,
      { since: fromS, to: toS },
    );
  }

  /** Per bucket of `widthS` seconds of ingested_at, before `beforeS` (all rows when undefined): a digest. */
  itemBuckets(widthS: number, beforeS?: number): Promise<BucketDigest[]> {
    return this.buckets(
      this.table,
      `${this.key}, ts_ms`,
      'toUInt32(ingested_at)',
      beforeS === undefined ? '1' : 'ingested_at < toDateTime({before:UInt32})',
      { width: widthS, ...(beforeS === undefined ? {} : { before: beforeS }) },
    );
  }

  /**
   * Newest version of the items in (`afterId`, `lastId`] with a row ingested at or after `sinceS` (and
   * before `untilS`).
   */
  async items(afterId: string, lastId: string, sinceS: number, untilS?: number): Promise<CatalogRow[]> {
    const attributes = this.columns.map((c) => `argMax(${c}, ts_ms) AS ${c}, `).join('');
    const key = this.key;
    const inPage = `${key} > {after:String} AND ${key} <= {last:String}`;
    const rows = await this.ch.query<
      Record<string, RawValue> & {
        latest_ts_ms: string | number;
        ingested_s: string | number;
      }
    >(
      `SELECT ${key}, ${attributes}max(ts_ms) AS latest_ts_ms, toUInt32(max(ingested_at)) AS ingested_s
       FROM ${this.table}
       WHERE ${inPage} AND ${key} IN (SELECT ${key} FROM ${this.table} WHERE ${inPage} AND ${itemsIngestedIn(untilS)})
       GROUP BY ${key} ORDER BY ${key}`,
      { after: afterId, last: lastId, since: sinceS, ...untilParam(untilS) },
    );
    return rows.map((r) => ({
      item_id: String(r[key]),
      attributes: Object.fromEntries(this.columns.map((c) => [c, r[c]])),
      ts_ms: Number(r.latest_ts_ms),
      ingested_s: Number(r.ingested_s),
    }));
  }

  /**
   * The next page of items with a vector created after `sinceMs` (and before `untilMs`): keys after
   * `afterId` (keysetPageEnd).
   */
  async vectorPage(
    afterId: string,
    sinceMs: number,
    projectionVersion: string,
    limit: number,
    untilMs?: number,
  ): Promise<PageEnd | undefined> {
    // Only the embedding the layout stores is read (ServingLayout.embedding); others read as zeros.
    if (!this.vectorsStored) return undefined;
    const [{ table, key, where }, params] = this.vectorTable(projectionVersion);
    // Rows with an empty vector count here (the filter reads no vector); the page's read drops them.
    return keysetPageEnd(this.ch, {
      table,
      key,
      after: afterId,
      limit,
      where: `${where} AND ${vectorsCreatedIn(untilMs)}`,
      params: { ...params, since: sinceMs, ...untilParam(untilMs) },
    });
  }

  /** The vector rows created from `fromMs` to `toMs`, both included, empty ones too (as vectorPage counts). */
  vectorsCreated(fromMs: number, toMs: number, projectionVersion: string): Promise<RowsDigest> {
    if (!this.vectorsStored) return Promise.resolve({ rows: 0, hash: '0' });
    const [{ table, key, where }, params] = this.vectorTable(projectionVersion);
    return this.digest(
      table,
      `${key}, created_ms`,
      `${where} AND created_ms >= {from:UInt64} AND created_ms <= {to:UInt64}`,
      { ...params, from: fromMs, to: toMs },
    );
  }

  /** Per bucket of `widthMs` of created_ms, before `beforeMs` (all rows when undefined): a digest. */
  vectorBuckets(widthMs: number, projectionVersion: string, beforeMs?: number): Promise<BucketDigest[]> {
    if (!this.vectorsStored) return Promise.resolve([]);
    const [{ table, key, where }, params] = this.vectorTable(projectionVersion);
    return this.buckets(
      table,
      `${key}, created_ms`,
      'created_ms',
      beforeMs === undefined ? where : `${where} AND created_ms < {before:UInt64}`,
      { ...params, width: widthMs, ...(beforeMs === undefined ? {} : { before: beforeMs }) },
    );
  }

  /**
   * Newest fused vector of the items in (`afterId`, `lastId`] whose newest vector was created after
   * `sinceMs`; with `untilMs`, of those with a vector created between the two.
   */
  async vectors(
    afterId: string,
    lastId: string,
    sinceMs: number,
    projectionVersion: string,
    untilMs?: number,
  ): Promise<VectorRow[]> {
    if (!this.vectorsStored) return [];
    const [{ table, key, vec, where }, params] = this.vectorTable(projectionVersion);
    const inPage = `${key} > {after:String} AND ${key} <= {last:String}`;
    const bounded =
      untilMs === undefined
        ? ''
        : ` AND ${key} IN (SELECT ${key} FROM ${table} WHERE ${inPage} AND ${where} AND ${vectorsCreatedIn(untilMs)})`;
    // `v`, not the column's name: an alias named like the column would shadow it in WHERE. RowBinary:
    // as JSON, printing and parsing the floats was most of a large catalogue's load. No ORDER BY: the
    // item pass already placed the rows, and a vector's upsert does not depend on the order.
    const answer = await this.ch.queryRowBinary(
      `SELECT ${key}, argMax(${vec}, created_ms) AS v, max(created_ms) AS latest_created_ms
       FROM ${table}
       WHERE ${inPage} AND notEmpty(${vec}) AND ${where}${bounded}
       GROUP BY ${key} HAVING latest_created_ms > {since:UInt64}`,
      {
        ...params,
        after: afterId,
        last: lastId,
        since: sinceMs,
        ...untilParam(untilMs),
      },
    );
    const rows: VectorRow[] = [];
    for (const r = new RowBinaryReader(answer); !r.done;)
      rows.push({ item_id: r.string(), fused_vec: r.float32Array(), created_ms: r.uint64() });
    return rows;
  }

  private vectorTable(projectionVersion: string): [VectorTable, QueryParams] {
    return this.entityEmbedding === undefined
      ? [ITEM_VECTORS, { pv: projectionVersion }]
      : [ENTITY_VECTORS, { emb: this.entityEmbedding, entity: this.entity }];
  }

  private async digest(
    table: string,
    version: string,
    where: string,
    params: QueryParams,
  ): Promise<RowsDigest> {
    const [row] = await this.ch.query<{ n: string | number; h: string }>(
      `SELECT count() AS n, toString(sum(cityHash64(${version}))) AS h FROM ${table} WHERE ${where}`,
      params,
    );
    return { rows: Number(row?.n ?? 0), hash: row?.h ?? '0' };
  }

  private async buckets(
    table: string,
    version: string,
    value: string,
    where: string,
    params: QueryParams,
  ): Promise<BucketDigest[]> {
    const rows = await this.ch.query<{ b: string | number; n: string | number; h: string }>(
      `SELECT intDiv(${value}, {width:UInt64}) AS b, count() AS n, toString(sum(cityHash64(${version}))) AS h
       FROM ${table} WHERE ${where} GROUP BY b ORDER BY b`,
      params,
    );
    return rows.map((r) => ({ bucket: Number(r.b), rows: Number(r.n), hash: r.h }));
  }
}
