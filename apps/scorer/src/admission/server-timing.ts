/**
 * A Server-Timing header value (ms, two decimals) from stage durations in seconds, e.g.
 * `queue;dur=0.42, history;dur=1.10`; stages without a time are left out.
 */
export function serverTiming(stagesS: Record<string, number | undefined>): string {
  return Object.entries(stagesS)
    .filter((e): e is [string, number] => e[1] !== undefined && Number.isFinite(e[1]))
    .map(([name, s]) => `${name};dur=${(s * 1000).toFixed(2)}`)
    .join(', ');
}
