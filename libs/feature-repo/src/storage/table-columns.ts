import type { ClickHouseService } from '@mmctr/clickhouse';

/** A column as ClickHouse reports it: its name and its type text (e.g. `UInt16`, `Enum8('a' = 1)`). */
export interface TableColumn {
  readonly name: string;
  readonly type: string;
}

/**
 * The columns of `database`.`table` in table order (system.columns), or [] when the table does not
 * exist. Writers encode by these actual types; `apply` checks them against the declared attributes.
 */
export async function readTableColumns(
  clickhouse: Pick<ClickHouseService, 'query'>,
  database: string,
  table: string,
): Promise<TableColumn[]> {
  const rows = await clickhouse.query<TableColumn>(
    `SELECT name, type FROM system.columns WHERE database = {database:String} AND table = {table:String}`,
    { database, table },
  );
  return rows.map((r) => ({ name: r.name, type: r.type }));
}
