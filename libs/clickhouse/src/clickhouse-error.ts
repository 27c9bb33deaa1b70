/** Error codes the platform reacts to (same numbers on 18.16 and modern servers). */
export const ClickHouseCode = {
  SYNTAX_ERROR: 62,
  UNKNOWN_TABLE: 60,
  UNKNOWN_DATABASE: 81,
  TABLE_ALREADY_EXISTS: 57,
  UNKNOWN_SETTING: 115,
  UNKNOWN_FUNCTION: 46,
  UNKNOWN_IDENTIFIER: 47,
  TYPE_MISMATCH: 53,
  TOO_MANY_PARTS: 252,
  MEMORY_LIMIT_EXCEEDED: 241,
  TIMEOUT_EXCEEDED: 159,
} as const;

export class ClickHouseError extends Error {
  constructor(
    message: string,
    readonly code: number | undefined,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'ClickHouseError';
  }

  /** Worth retrying: the server or network, not the query, is the problem. */
  get transient(): boolean {
    if (this.code === undefined) return true;
    const retryable: number[] = [
      ClickHouseCode.TOO_MANY_PARTS,
      ClickHouseCode.TIMEOUT_EXCEEDED,
      ClickHouseCode.MEMORY_LIMIT_EXCEEDED,
      209, // SOCKET_TIMEOUT
      210, // NETWORK_ERROR
      202, // TOO_MANY_SIMULTANEOUS_QUERIES
    ];
    return retryable.includes(this.code);
  }
}

/**
 * Normalises an error from @clickhouse/client. Modern servers' errors are parsed by the client
 * (`err.code` is a numeric string); 18.16's are not, so the code is read from `Code: N` in the text.
 */
export function parseClickHouseError(err: unknown): ClickHouseError {
  if (err instanceof ClickHouseError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const rawCode = (err as { code?: unknown } | null)?.code;
  let code: number | undefined;
  if (typeof rawCode === 'string' && /^\d+$/.test(rawCode)) code = Number(rawCode);
  else if (typeof rawCode === 'number') code = rawCode;
  else {
    const m = /Code: (\d+)/.exec(message);
    if (m) code = Number(m[1]);
  }
  const clean = message.replace(/\s+\(version [^)]*\)\s*$/, '').trim();
  return new ClickHouseError(clean, code, err);
}
