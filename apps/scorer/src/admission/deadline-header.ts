/** The request header carrying the client's budget for this request, in milliseconds. */
export const DEADLINE_HEADER = 'x-request-deadline-ms';
/** Largest budget accepted (an hour): anything above is a client bug, not a deadline. */
export const MAX_DEADLINE_MS = 3_600_000;

export type ParsedDeadline = { ok: true; budgetMs: number | null } | { ok: false; message: string };

/**
 * The x-request-deadline-ms value: a non-negative number of milliseconds (decimals allowed; 0 means the
 * budget is already spent); absent gives null (the configured default applies).
 */
export function parseDeadlineHeader(value: string | string[] | undefined): ParsedDeadline {
  if (value === undefined) return { ok: true, budgetMs: null };
  if (Array.isArray(value)) return { ok: false, message: `${DEADLINE_HEADER} must be sent once` };
  const text = value.trim();
  if (!/^\d+(\.\d+)?$/.test(text))
    return {
      ok: false,
      message: `${DEADLINE_HEADER} must be a non-negative number of milliseconds; got '${value.slice(0, 40)}'`,
    };
  const budgetMs = Number(text);
  if (budgetMs > MAX_DEADLINE_MS)
    return { ok: false, message: `${DEADLINE_HEADER} must be at most ${MAX_DEADLINE_MS}; got ${text}` };
  return { ok: true, budgetMs };
}
