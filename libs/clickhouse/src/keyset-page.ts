import type { ClickHouseService } from './clickhouse.service';
import { limitLiteral, type QueryParams } from './query-binder';

/** A keyset page's last key, and whether the page read its full size of rows (more may follow). */
export interface PageEnd {
  last: string;
  full: boolean;
}

export interface KeysetPage {
  table: string;
  /** The table's key column, first in its sort key: pages are ranges of it. */
  key: string;
  after: string;
  limit: number;
  /** More conditions on the rows (SQL over the table's columns), with their parameters. */
  where?: string;
  params?: QueryParams;
}

/**
 * The end of the next keyset page: the last key among the first `limit` rows after `after` (that
 * `where` admits) in key order, and whether there were `limit` of them; undefined when none is left.
 * A key's rows (versions) each count, so a page holds at most `limit` keys and all rows of its last
 * key, which a read of the key range (`after`, `last`] then takes, bounded by the sort key's index. It
 * reads the key and the filter's columns only, in a top-`limit` sort: DISTINCT keys cost 4-5 times more
 * on 18.16, and grouping every row after `after` made each page cost the rest of the table.
 */
export async function keysetPageEnd(ch: ClickHouseService, page: KeysetPage): Promise<PageEnd | undefined> {
  const where = page.where === undefined ? '' : ` AND ${page.where}`;
  const [row] = await ch.query<{ n: string | number; last: string }>(
    `SELECT count() AS n, max(k) AS last FROM (
       SELECT {pageKey:Identifier} AS k FROM {pageTable:Identifier}
       WHERE {pageKey:Identifier} > {pageAfter:String}${where}
       ORDER BY k LIMIT ${limitLiteral(page.limit, 'page size')})`,
    { ...page.params, pageTable: page.table, pageKey: page.key, pageAfter: page.after },
  );
  const n = Number(row?.n ?? 0);
  return n === 0 || row === undefined ? undefined : { last: row.last, full: n === page.limit };
}
