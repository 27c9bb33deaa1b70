import { decode, decodeUtf8, isWellFormed } from '@mmctr/contracts';

/**
 * The lines of a byte stream (LF-separated, a CR before the LF dropped), as raw bytes: a line is
 * never decoded here, so invalid UTF-8 reaches the check (or, unchecked, the broker) exactly as written.
 */
export async function* byteLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of chunks) {
    let buf = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    let nl: number;
    while ((nl = buf.indexOf(0x0a)) !== -1) {
      yield stripCr(buf.subarray(0, nl));
      buf = buf.subarray(nl + 1);
    }
    rest = Buffer.from(buf); // a copy: the stream may reuse its chunk
  }
  if (rest.length > 0) yield stripCr(rest);
}

const stripCr = (line: Buffer): Buffer => (line.at(-1) === 0x0d ? line.subarray(0, -1) : line);

export type CheckedLine = { ok: true; key: string | null } | { ok: false; reason: string };

/**
 * Whether one JSON line may be sent and under which key (`user_id` for events, `item_id` for items).
 * With `validate`, the line must pass what ingest checks (MAX_MESSAGE_BYTES, strict UTF-8, JSON, the
 * contract with well-formed strings); without, any line goes, keyed when a key can be read from it.
 */
export function checkLine(kind: 'event' | 'item', line: Buffer, validate: boolean): CheckedLine {
  const field = kind === 'item' ? 'item_id' : 'user_id';
  if (validate) {
    const r = decode(kind, line);
    if (!r.ok) return r;
    return { ok: true, key: (r.value as unknown as Record<string, string>)[field]! };
  }
  const text = decodeUtf8(line);
  if (!text.ok) return { ok: true, key: null };
  try {
    const v = (JSON.parse(text.text) as Record<string, unknown> | null)?.[field];
    return { ok: true, key: typeof v === 'string' && isWellFormed(v) ? v : null };
  } catch {
    return { ok: true, key: null };
  }
}
