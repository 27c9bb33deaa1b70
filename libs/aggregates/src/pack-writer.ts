/**
 * A flat MessagePack array of numbers and strings, the one argument of the counting script (which
 * reads it with Redis's `cmsgpack.unpack`). Thousands of separate script arguments cost ioredis far
 * more per value (a string conversion, a length and four concatenations each) than writing them into
 * one buffer here.
 */
export class PackWriter {
  private buf: Buffer;
  private at = 5; // after the array32 header, written by `finish`
  private count = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(initialBytes, 16));
  }

  /** Values written so far. */
  get length(): number {
    return this.count;
  }

  private room(bytes: number): void {
    if (this.at + bytes <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + bytes));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  /** A number: exact (integers as such below 2^32, anything else as a float64). */
  num(x: number): void {
    this.room(9);
    const b = this.buf;
    if (Number.isInteger(x) && x >= 0 && x < 0x1_0000_0000) {
      if (x < 0x80) b[this.at++] = x;
      else {
        b[this.at] = 0xce;
        b.writeUInt32BE(x, this.at + 1);
        this.at += 5;
      }
    } else {
      b[this.at] = 0xcb;
      b.writeDoubleBE(x, this.at + 1);
      this.at += 9;
    }
    this.count++;
  }

  /** Writes a placeholder for a count not known yet (below 2^32), for `fill`. */
  reserve(): number {
    this.room(5);
    const at = this.at;
    this.buf[at] = 0xce;
    this.at += 5;
    this.count++;
    return at;
  }

  fill(at: number, n: number): void {
    this.buf.writeUInt32BE(n, at + 1);
  }

  /** A string, UTF-8. */
  str(s: string): void {
    const len = s.length;
    this.room(5 + 3 * len);
    const b = this.buf;
    const at = this.at;
    let n = 0;
    // Short ASCII strings (ids, key names) are copied here: cheaper than a call into the runtime.
    if (len <= 256) {
      while (n < len) {
        const c = s.charCodeAt(n);
        if (c >= 0x80) break;
        b[at + 5 + n++] = c;
      }
    }
    if (n < len) n = b.write(s, at + 5);
    b[at] = 0xdb;
    b.writeUInt32BE(n, at + 1);
    this.at = at + 5 + n;
    this.count++;
  }

  /** The array: a view of this writer's buffer (write nothing more while it is in use). */
  finish(): Buffer {
    this.buf[0] = 0xdd;
    this.buf.writeUInt32BE(this.count, 1);
    return this.buf.subarray(0, this.at);
  }
}
