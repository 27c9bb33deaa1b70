import { isUtf8 } from 'node:buffer';

// Ids and strings are stored and compared byte for byte, so they are never "repaired": a lenient
// decoder turns every invalid byte sequence (and Buffer.from every lone surrogate) into U+FFFD, which
// makes distinct inputs equal. Anything that is not well-formed is rejected with where it is instead.

/** True when `s` has no lone UTF-16 surrogate, i.e. it encodes to UTF-8 and back unchanged. */
export function isWellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c > 0xdbff) return false; // a low surrogate without its high half
    const next = s.charCodeAt(i + 1);
    if (!(next >= 0xdc00 && next <= 0xdfff)) return false; // a high surrogate without its low half
    i++;
  }
  return true;
}

/** `s` with each lone surrogate written as the text `\\udXXX` (a reason or log line must itself be well-formed). */
export function escapeLoneSurrogates(s: string): string {
  return s.replace(
    /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16)}`,
  );
}

/** JSON Pointer of a property name or index (RFC 6901 escaping, as ajv's instancePath). */
const pointer = (path: string, key: string | number): string =>
  `${path}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;

/**
 * The first string in a parsed JSON value (a string value or a property name, at any depth) that is not
 * well-formed, as a reason naming where it is; undefined when every string is well-formed. Iterative, so
 * arbitrarily deep input cannot overflow the stack.
 */
export function findIllFormedString(value: unknown): string | undefined {
  const stack: { v: unknown; path: string }[] = [{ v: value, path: '' }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'string') {
      if (!isWellFormed(v)) return `${path || '(root)'} is not well-formed Unicode (lone surrogate)`;
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: pointer(path, i) });
    } else if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      for (let i = keys.length - 1; i >= 0; i--) {
        const k = keys[i]!;
        if (!isWellFormed(k))
          return `property name ${JSON.stringify(k)} in ${path || '(root)'} is not well-formed Unicode (lone surrogate)`;
        stack.push({ v: (v as Record<string, unknown>)[k], path: pointer(path, k) });
      }
    }
  }
  return undefined;
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence (RFC 3629). */
export function firstInvalidUtf8Offset(buf: Uint8Array): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0; // overlong
      if (b === 0xed) hi = 0x9f; // encoded surrogate
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90; // overlong
      if (b === 0xf4) hi = 0x8f; // above U+10FFFF
    } else return i;
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k];
      if (c === undefined) return i;
      if (k === 1 ? c < lo || c > hi : c < 0x80 || c > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

export type Utf8Decoded = { ok: true; text: string } | { ok: false; reason: string };

/** Decodes UTF-8 strictly: invalid bytes are an error with their offset, never replaced; a BOM is kept. */
export function decodeUtf8(buf: Buffer): Utf8Decoded {
  if (isUtf8(buf)) return { ok: true, text: buf.toString('utf8') };
  const at = firstInvalidUtf8Offset(buf);
  return { ok: false, reason: `invalid UTF-8 at byte ${at}` };
}
