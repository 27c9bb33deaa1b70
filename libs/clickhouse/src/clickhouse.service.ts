import { Readable } from 'node:stream';
import {
  ClickHouseLogLevel,
  createClient,
  type ClickHouseClient,
  type ClickHouseSettings,
} from '@clickhouse/client';
import { bindQuery, type QueryParams } from './query-binder';
import { parseClickHouseError } from './clickhouse-error';

export interface ClickHouseConnection {
  url: string;
  database?: string;
  username: string;
  password: string;
  requestTimeoutMs?: number;
}

export interface HealthStatus {
  ok: boolean;
  version?: string;
  error?: string;
}

/**
 * The one place that talks to ClickHouse over HTTP. Binds parameters client-side and normalises
 * errors so callers see the same ClickHouseError on 18.16 and on modern servers. Repositories use it;
 * services never do.
 */
export class ClickHouseService {
  readonly client: ClickHouseClient;
  readonly database: string | undefined;

  constructor(conn: ClickHouseConnection) {
    this.database = conn.database;
    this.client = createClient({
      url: conn.url,
      username: conn.username,
      password: conn.password,
      database: conn.database,
      request_timeout: conn.requestTimeoutMs ?? 60_000,
      compression: { request: false, response: false },
      // Errors are normalised and thrown to the caller, who decides whether to log them.
      log: { level: ClickHouseLogLevel.OFF },
    });
  }

  /** `settings` apply to this query only; use settings both 18.16 and modern servers know. */
  async query<T = Record<string, unknown>>(
    sql: string,
    params?: QueryParams,
    settings?: ClickHouseSettings,
  ): Promise<T[]> {
    const query = bindQuery(sql, params); // bind errors are the caller's, not the server's
    try {
      const rs = await this.client.query({ query, format: 'JSONEachRow', clickhouse_settings: settings });
      return await rs.json<T>();
    } catch (err) {
      throw parseClickHouseError(err);
    }
  }

  /**
   * The answer as RowBinary bytes (read them with RowBinaryReader): for large numeric results, which
   * cost several times their binary size as JSON text to print and to parse.
   */
  async queryRowBinary(sql: string, params?: QueryParams, settings?: ClickHouseSettings): Promise<Buffer> {
    const query = `${bindQuery(sql, params)}\nFORMAT RowBinary`;
    try {
      const result = await this.client.exec({ query, clickhouse_settings: settings });
      const chunks: Buffer[] = [];
      for await (const chunk of result.stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    } catch (err) {
      throw parseClickHouseError(err);
    }
  }

  async command(sql: string, params?: QueryParams): Promise<void> {
    const query = bindQuery(sql, params);
    try {
      await this.client.command({ query });
    } catch (err) {
      throw parseClickHouseError(err);
    }
  }

  /** Inserts rows as JSONEachRow; rows must carry every column (18.16 ignores column DEFAULTs). */
  async insert(table: string, rows: readonly object[]): Promise<void> {
    if (rows.length === 0) return;
    try {
      await this.client.insert({ table, values: rows, format: 'JSONEachRow' });
    } catch (err) {
      throw parseClickHouseError(err);
    }
  }

  /**
   * Inserts rows already encoded as RowBinary (see RowBinaryWriter), in the order of `columns`. For
   * hot paths: the server skips text parsing entirely.
   */
  async insertRowBinary(table: string, columns: readonly string[], body: Buffer): Promise<void> {
    if (body.length === 0) return;
    const bad = columns.find((c) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(c));
    if (bad !== undefined) throw new Error(`insertRowBinary: not a plain column name: ${bad}`);
    const cols = columns.join(', ');
    try {
      const result = await this.client.exec({
        query: `INSERT INTO ${table} (${cols}) FORMAT RowBinary`,
        values: Readable.from([body], { objectMode: false }),
      });
      // The socket returns to the pool only once the (empty) response body is consumed.
      for await (const chunk of result.stream) void chunk;
    } catch (err) {
      throw parseClickHouseError(err);
    }
  }

  async health(): Promise<HealthStatus> {
    try {
      const ping = await this.client.ping();
      if (!ping.success) return { ok: false, error: String((ping as { error?: unknown }).error) };
      const [row] = await this.query<{ v: string }>('SELECT version() AS v');
      return { ok: true, version: row?.v };
    } catch (err) {
      return { ok: false, error: parseClickHouseError(err).message };
    }
  }

  async serverVersion(): Promise<[number, number]> {
    const [row] = await this.query<{ v: string }>('SELECT version() AS v');
    const [major = 0, minor = 0] = (row?.v ?? '0.0').split('.').map(Number);
    return [major, minor];
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
