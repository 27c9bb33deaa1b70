import { scoreLogValue, type PackedScoreLog } from './score-log-codec';

export type ScoreLogResult = 'produced' | 'dropped' | 'invalid' | 'failed';

/** What the sender needs of a kafkajs producer. */
export interface ScoreLogTransport {
  send(messages: { key: string; value: string }[]): Promise<void>;
}

export interface ScoreLogSenderOptions {
  maxQueue: number;
  batchRecords: number;
}

export interface ScoreLogEvents {
  count(result: ScoreLogResult, n: number): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

/**
 * The score log's queue of packed (already validated) records: bounded (overflow is dropped and
 * counted), encoded and sent in chunks of `batchRecords`, one send at a time; a failed chunk goes back
 * to the queue's head.
 */
export class ScoreLogSender {
  private queue: PackedScoreLog[] = [];
  private sending: Promise<boolean> | undefined;

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

  private async sendChunk(): Promise<boolean> {
    const batch = this.queue.splice(0, this.opts.batchRecords);
    const messages = batch.map((r) => ({ key: r.key, value: scoreLogValue(r) }));
    try {
      await this.transport.send(messages);
      this.events.count('produced', messages.length);
      return true;
    } catch (err) {
      const room = this.opts.maxQueue - this.queue.length;
      const keep = batch.slice(0, Math.max(0, room));
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
