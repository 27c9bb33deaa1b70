import type { IncomingHttpHeaders } from 'node:http';

/** The request header carrying the client's budget for this request, in milliseconds. */
export const DEADLINE_HEADER = 'x-request-deadline-ms';
/** The request header carrying the client's deadline as Unix time in milliseconds (its wall clock). */
export const DEADLINE_AT_HEADER = 'x-request-deadline-at-ms';
/**
 * Largest budget accepted (an hour), and how far from the scorer's clock an absolute deadline may be:
 * anything beyond is a client bug (seconds for milliseconds, a wrong clock), not a deadline.
 */
export const MAX_DEADLINE_MS = 3_600_000;

export type ParsedDeadline = { ok: true; budgetMs: number | null } | { ok: false; message: string };
type ParsedMs = { ok: true; ms: number | undefined } | { ok: false; message: string };

/** A header holding one non-negative number of milliseconds (decimals allowed); absent gives undefined. */
function readMs(name: string, value: string | string[] | undefined): ParsedMs {
  if (value === undefined) return { ok: true, ms: undefined };
  if (Array.isArray(value)) return { ok: false, message: `${name} must be sent once` };
  const text = value.trim();
  if (!/^\d+(\.\d+)?$/.test(text))
    return {
      ok: false,
      message: `${name} must be a non-negative number of milliseconds; got '${value.slice(0, 40)}'`,
    };
  return { ok: true, ms: Number(text) };
}

/**
 * The x-request-deadline-ms value: a non-negative number of milliseconds (decimals allowed; 0 means the
 * budget is already spent); absent gives null (the configured default applies).
 */
export function parseDeadlineHeader(value: string | string[] | undefined): ParsedDeadline {
  const read = readMs(DEADLINE_HEADER, value);
  if (!read.ok) return read;
  if (read.ms === undefined) return { ok: true, budgetMs: null };
  if (read.ms > MAX_DEADLINE_MS)
    return { ok: false, message: `${DEADLINE_HEADER} must be at most ${MAX_DEADLINE_MS}; got ${read.ms}` };
  return { ok: true, budgetMs: read.ms };
}

/**
 * The x-request-deadline-at-ms value as a budget left at `wallNowMs` (the scorer's Unix time in ms):
 * negative when the deadline has passed, which is how time spent before the scorer read the request
 * (the network, the kernel's queues) counts against it. Absent gives null.
 */
export function parseDeadlineAtHeader(
  value: string | string[] | undefined,
  wallNowMs: number,
): ParsedDeadline {
  const read = readMs(DEADLINE_AT_HEADER, value);
  if (!read.ok) return read;
  if (read.ms === undefined) return { ok: true, budgetMs: null };
  const budgetMs = read.ms - wallNowMs;
  if (Math.abs(budgetMs) > MAX_DEADLINE_MS)
    return {
      ok: false,
      message: `${DEADLINE_AT_HEADER} must be Unix time in milliseconds within ${MAX_DEADLINE_MS} ms of the scorer's clock (${Math.round(wallNowMs)}); got ${read.ms}`,
    };
  return { ok: true, budgetMs };
}

/** The request's budget from either header; with both, the earlier deadline. Null: neither was sent. */
export function requestBudget(headers: IncomingHttpHeaders, wallNowMs: number): ParsedDeadline {
  const relative = parseDeadlineHeader(headers[DEADLINE_HEADER]);
  if (!relative.ok) return relative;
  const absolute = parseDeadlineAtHeader(headers[DEADLINE_AT_HEADER], wallNowMs);
  if (!absolute.ok) return absolute;
  if (relative.budgetMs === null) return absolute;
  if (absolute.budgetMs === null) return relative;
  return { ok: true, budgetMs: Math.min(relative.budgetMs, absolute.budgetMs) };
}
