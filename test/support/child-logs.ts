import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

/**
 * Keeps the non-empty lines `child` writes to stdout and stderr in `lines`: the newest `cap` of them. A
 * pipe hands output over in chunks that may end mid-line: each stream's unfinished line waits for the
 * rest (and is kept as it is when the stream ends).
 */
export function keepOutputLines(child: ChildProcess, lines: string[], cap = 5_000): void {
  const follow = (stream: Readable | null) => {
    let partial = '';
    const push = (line: string) => {
      if (line) lines.push(line);
      if (lines.length > cap) lines.splice(0, lines.length - cap);
    };
    // Decoded as a stream: a character split between chunks stays whole.
    stream?.setEncoding('utf8');
    stream?.on('data', (text: string) => {
      const parts = (partial + text).split('\n');
      partial = parts.pop()!;
      for (const line of parts) push(line);
    });
    stream?.on('end', () => push(partial));
  };
  follow(child.stdout);
  follow(child.stderr);
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
