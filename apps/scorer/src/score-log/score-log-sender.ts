import { checkScoreLogValue, scoreLogValue, type PackedScoreLog } from './score-log-codec';

export type ScoreLogResult = 'produced' | 'dropped' | 'invalid' | 'failed';

/** What the sender needs of a kafkajs producer. */
export interface ScoreLogTransport {
  send(messages: { key: string; value: string }[]): Promise<void>;
}

export interface ScoreLogSenderOptions {
  maxQueue: number;
  batchRecords: number;
  /**
   * Most bytes (keys + values) in one send. Kafka refuses a record batch over the broker's
   * message.max.bytes (1 MiB by default) for good, so a chunk that size would be retried forever and
   * hold up every record behind it.
   */
  maxBatchBytes: number;
}

export interface ScoreLogEvents {
  count(result: ScoreLogResult, n: number): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/**
 * The score log's queue of packed records: bounded (overflow is dropped and counted), encoded, checked
 * against the contract and sent in chunks of at most `batchRecords` records and `maxBatchBytes` bytes,
 * one send at a time; a failed chunk goes back to the queue's head. A record the contract rejects is
 * dropped, counted as invalid and logged with its request_id; one larger than `maxBatchBytes` on its
 * own can never be produced: it is dropped, counted and logged instead of blocking the queue.
 */
export class ScoreLogSender {
  private queue: PackedScoreLog[] = [];
  private sending: Promise<boolean> | undefined;
  /** Encoded values of records encoded but not sent yet (the record that ended a chunk on the byte cap,
   * a failed chunk's records): each record is encoded once. */
  private readonly encoded = new WeakMap<PackedScoreLog, string>();

  constructor(
    private readonly transport: ScoreLogTransport,
    private readonly opts: ScoreLogSenderOptions,
    private readonly events: ScoreLogEvents,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  push(record: PackedScoreLog): void {
    if (this.queue.length >= this.opts.maxQueue) return this.events.count('dropped', 1);
    this.queue.push(record);
  }

  /** Sends everything queued so far; stops early (keeping the rest) when a send fails. */
  async flush(): Promise<void> {
    while (this.sending) await this.sending;
    while (this.queue.length > 0) {
      this.sending = this.sendChunk().finally(() => (this.sending = undefined));
      if (!(await this.sending)) return;
    }
  }

  /** Takes the next chunk off the queue's head, dropping records too large to ever send. */
  private nextChunk(): { batch: PackedScoreLog[]; messages: { key: string; value: string }[] } {
    const batch: PackedScoreLog[] = [];
    const messages: { key: string; value: string }[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && batch.length < this.opts.batchRecords) {
      const record = this.queue[0]!;
      const value = this.encoded.get(record) ?? this.encodeValid(record);
      if (value === undefined) {
        this.queue.shift();
        continue;
      }
      const size = Buffer.byteLength(value) + Buffer.byteLength(record.key);
      if (size > this.opts.maxBatchBytes) {
        this.queue.shift();
        this.events.count('dropped', 1);
        this.events.warn(
          { user_id: record.key, bytes: size, max_batch_bytes: this.opts.maxBatchBytes },
          'score log record larger than SCORER_SCORE_LOG_MAX_BATCH_BYTES; dropped',
        );
        continue;
      }
      if (bytes + size > this.opts.maxBatchBytes) {
        this.encoded.set(record, value); // heads the next chunk
        break;
      }
      this.queue.shift();
      batch.push(record);
      messages.push({ key: record.key, value });
      bytes += size;
    }
    return { batch, messages };
  }

  /** The record's Kafka value, or undefined (counted and logged) when the contract rejects it. */
  private encodeValid(record: PackedScoreLog): string | undefined {
    const value = scoreLogValue(record);
    const check = checkScoreLogValue(value);
    if (check.ok) return value;
    this.events.count('invalid', 1);
    this.events.error(
      { request_id: check.request_id, reason: check.reason },
      'score log record invalid; not produced',
    );
    return undefined;
  }

  private async sendChunk(): Promise<boolean> {
    const { batch, messages } = this.nextChunk();
    if (batch.length === 0) return true;
    try {
      await this.transport.send(messages);
      this.events.count('produced', messages.length);
      return true;
    } catch (err) {
      const room = this.opts.maxQueue - this.queue.length;
      const keep = batch.slice(0, Math.max(0, room));
      keep.forEach((record, i) => this.encoded.set(record, messages[i]!.value));
      this.queue = keep.concat(this.queue);
      if (batch.length > keep.length) this.events.count('failed', batch.length - keep.length);
      this.events.warn(
        { err: (err as Error).message, records: batch.length },
        'score log send failed; will retry',
      );
      return false;
    }
  }
}

export type ScoreLogToThread = { records: PackedScoreLog[] } | { close: true };

export type ScoreLogFromThread =
  | { count: ScoreLogResult; n: number }
  | { log: 'warn' | 'error'; obj: Record<string, unknown>; msg: string }
  | { closed: true };

/** The thread's side of its port (a worker's parentPort). */
export interface ScoreLogPort {
  on(event: 'message', listener: (m: ScoreLogToThread) => void): unknown;
  postMessage(m: ScoreLogFromThread): void;
}

/**
 * The score log thread's loop. Records arrive in one message per flush interval and are sent at once;
 * its only timer runs while a failed send left some queued (no flush ticks while idle). Counts go
 * back once per flush, not per request: each message wakes the request loop. On close it sends what it
 * holds, calls `close` and answers `closed`.
 */
export function serveScoreLog(
  port: ScoreLogPort,
  opts: ScoreLogSenderOptions & { flushMs: number },
  transport: ScoreLogTransport,
  close: () => Promise<void>,
): void {
  const counts = new Map<ScoreLogResult, number>();
  const sender = new ScoreLogSender(transport, opts, {
    count: (result, n) => counts.set(result, (counts.get(result) ?? 0) + n),
    warn: (obj, msg) => port.postMessage({ log: 'warn', obj, msg }),
    error: (obj, msg) => port.postMessage({ log: 'error', obj, msg }),
  });
  let retry: NodeJS.Timeout | undefined;
  let closing = false;
  const flush = async () => {
    await sender.flush();
    for (const [count, n] of counts) port.postMessage({ count, n });
    counts.clear();
    if (sender.queued === 0 || closing) {
      clearTimeout(retry);
      retry = undefined;
    } else
      retry ??= setTimeout(() => {
        retry = undefined;
        void flush();
      }, opts.flushMs);
  };
  port.on('message', (m) => {
    if ('records' in m) {
      for (const r of m.records) sender.push(r);
      return void flush();
    }
    closing = true;
    void flush()
      .then(close)
      .then(() => port.postMessage({ closed: true }));
  });
}
