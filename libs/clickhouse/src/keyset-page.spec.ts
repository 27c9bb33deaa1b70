import type { ClickHouseService } from './clickhouse.service';
import { keysetPageEnd } from './keyset-page';
import { bindQuery, type QueryParams } from './query-binder';

/** A ClickHouseService that records the bound SQL and answers one row. */
function fakeClickHouse(answer: { n: number; last: string }) {
  const sql: string[] = [];
  const ch = {
    query: (template: string, params?: QueryParams) => {
      sql.push(bindQuery(template, params));
      return Promise.resolve([answer]);
    },
  } as unknown as ClickHouseService;
  return { ch, sql };
}

describe('keysetPageEnd', () => {
  it('asks for the first rows after the cursor in key order, with the filter and its parameters', async () => {
    const { ch, sql } = fakeClickHouse({ n: 100, last: 'k200' });
    const end = await keysetPageEnd(ch, {
      table: 'items',
      key: 'item_id',
      after: "k1'",
      limit: 100,
      where: 'ingested_at >= toDateTime({since:UInt32})',
      params: { since: 7 },
    });
    expect(end).toEqual({ last: 'k200', full: true });
    expect(sql[0]!.replace(/\s+/g, ' ')).toBe(
      "SELECT count() AS n, max(k) AS last FROM ( SELECT `item_id` AS k FROM `items` WHERE `item_id` > CAST('k1\\'' AS String) AND ingested_at >= toDateTime(CAST(7 AS UInt32)) ORDER BY k LIMIT 100)",
    );
  });

  it('says whether the page was full, and undefined when no row is left', async () => {
    expect(
      await keysetPageEnd(fakeClickHouse({ n: 3, last: 'k3' }).ch, {
        table: 't',
        key: 'k',
        after: '',
        limit: 5,
      }),
    ).toEqual({
      last: 'k3',
      full: false,
    });
    expect(
      await keysetPageEnd(fakeClickHouse({ n: 0, last: '' }).ch, {
        table: 't',
        key: 'k',
        after: '',
        limit: 5,
      }),
    ).toBeUndefined();
  });

  it('refuses a page size that is not a positive integer', async () => {
    const { ch } = fakeClickHouse({ n: 0, last: '' });
    await expect(keysetPageEnd(ch, { table: 't', key: 'k', after: '', limit: 0 })).rejects.toThrow(
      'page size 0 is not a positive integer',
    );
  });
});
