// Buffered JSONL output over a write stream: lines are joined into ~1 MB chunks (one syscall each)
// and `drain()` waits when the stream is behind, so memory stays flat for millions of lines.
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';

const CHUNK_CHARS = 1 << 20;

export class LineWriter {
  private readonly stream: WriteStream;
  private buffer: string[] = [];
  private chars = 0;
  private failure: Error | null = null;
  lines = 0;

  constructor(path: string) {
    this.stream = createWriteStream(path, { encoding: 'utf8' });
    this.stream.on('error', (err) => (this.failure = err));
  }

  write(line: string): void {
    this.buffer.push(line);
    this.chars += line.length + 1;
    this.lines++;
    if (this.chars >= CHUNK_CHARS) this.flushBuffer();
  }

  private flushBuffer(): void {
    if (this.buffer.length === 0) return;
    this.stream.write(this.buffer.join('\n') + '\n');
    this.buffer = [];
    this.chars = 0;
  }

  /** A method rather than inline checks: the error arrives asynchronously, between awaits. */
  private rethrow(): void {
    if (this.failure) throw this.failure;
  }

  async drain(): Promise<void> {
    this.rethrow();
    // writableNeedDrain (not a flag of our own): 'drain' may already have fired while another
    // writer was being waited on.
    if (this.stream.writableNeedDrain) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    this.flushBuffer();
    this.rethrow();
    await new Promise<void>((resolve, reject) => {
      this.stream.once('error', reject);
      this.stream.end(resolve);
    });
    this.rethrow();
  }
}
