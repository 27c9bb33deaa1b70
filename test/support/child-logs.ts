import type { ChildProcess } from 'node:child_process';

/** Keeps the non-empty lines `child` writes to stdout and stderr in `lines`: the newest `cap` of them. */
export function keepOutputLines(child: ChildProcess, lines: string[], cap = 5_000): void {
  const keep = (buf: Buffer) => {
    for (const line of buf.toString().split('\n')) if (line) lines.push(line);
    if (lines.length > cap) lines.splice(0, lines.length - cap);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
}

/** The JSON log records among `lines` (lines that are not JSON skipped). */
export function jsonLogRecords(lines: readonly string[]): Record<string, unknown>[] {
  return lines.flatMap((l) => {
    try {
      const o = JSON.parse(l) as Record<string, unknown> | null;
      return o !== null && typeof o === 'object' ? [o] : [];
    } catch {
      return [];
    }
  });
}
