import { keysetPageEnd, type ClickHouseService } from '@mmctr/clickhouse';

/** A snapshot entity's table as the repository lays it out (libs/feature-repo storageTables). */
export interface EntityTable {
  table: string;
  /** The entity's key column. */
  key: string;
  /** Attribute columns to read besides the key and ts_ms. */
  columns: readonly string[];
}

/** The newest row of one key: its columns by name, as ingest's record of that snapshot had them. */
export type EntitySnapshot = Record<string, unknown> & { ts_ms: number };

/** A page of keys' newest snapshots, and whether the page read its full size of rows (more may follow). */
export interface SnapshotPage {
  rows: EntitySnapshot[];
  full: boolean;
}

/** Reads of snapshot entities' tables (the embedder's entity backfill). */
export class EntitySnapshotRepository {
  constructor(private readonly clickhouse: ClickHouseService) {}

  /** Whether the table exists in the configured database. */
  async exists(table: string): Promise<boolean> {
    const [row] = await this.clickhouse.query<{ n: string | number }>(
      'SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = {t:String}',
      { t: table },
    );
    return Number(row?.n ?? 0) > 0;
  }

  /**
   * About how many distinct keys the table holds (uniqCombined: within about 1 %, in fixed memory; a
   * progress total). uniqExact holds every key's hash: 1.6 s against 80 ms for 5 million keys on 18.16.
   */
  async countKeys(t: Pick<EntityTable, 'table' | 'key'>): Promise<number> {
    const [row] = await this.clickhouse.query<{ n: string | number }>(
      'SELECT uniqCombined({key:Identifier}) AS n FROM {table:Identifier}',
      { table: t.table, key: t.key },
    );
    return Number(row?.n ?? 0);
  }

  /**
   * The newest snapshot (highest ts_ms) of the keys after `after`, in key order, a page at a time:
   * keyset pages (keysetPageEnd), so a table of millions of keys is never held at once; a page holds at
   * most `limit` keys. FINAL collapses re-sent (key, ts_ms) rows.
   */
  async newest(t: EntityTable, after: string, limit: number): Promise<SnapshotPage> {
    const end = await keysetPageEnd(this.clickhouse, { table: t.table, key: t.key, after, limit });
    if (end === undefined) return { rows: [], full: false };
    const columns = [...new Set([t.key, 'ts_ms', ...t.columns])];
    const params: Record<string, string> = { table: t.table, key: t.key, after, last: end.last };
    columns.forEach((c, i) => (params[`c${i}`] = c));
    const rows = await this.clickhouse.query<Record<string, unknown>>(
      `SELECT ${columns.map((_, i) => `{c${i}:Identifier}`).join(', ')}
       FROM {table:Identifier} FINAL
       WHERE {key:Identifier} > {after:String} AND {key:Identifier} <= {last:String}
       ORDER BY {key:Identifier}, ts_ms DESC
       LIMIT 1 BY {key:Identifier}`,
      params,
    );
    return { rows: rows.map((r) => ({ ...r, ts_ms: Number(r.ts_ms) })), full: end.full };
  }
}
