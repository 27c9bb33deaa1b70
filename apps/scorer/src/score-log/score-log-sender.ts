import { validate, type ScoreLogRecord } from '@mmctr/contracts';

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
  error(obj: Record<string, unknown>, msg: string): void;
}

/**
 * The score log's queue: bounded (overflow is dropped and counted), validated against the contract and
 * sent in chunks of `batchRecords`, one send at a time; a failed chunk goes back to the queue's head.
 */
export class ScoreLogSender {
  private queue: ScoreLogRecord[] = [];
  private sending: Promise<boolean> | undefined;

  constructor(
    private readonly transport: ScoreLogTransport,
    private readonly opts: ScoreLogSenderOptions,
    private readonly events: ScoreLogEvents,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  push(record: ScoreLogRecord): void {
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

  private encode(record: ScoreLogRecord): { key: string; value: string } | null {
    const v = validate('scoreLog', record);
    if (v.ok) return { key: record.user_id, value: JSON.stringify(record) };
    this.events.count('invalid', 1);
    this.events.error(
      { request_id: record.request_id, reason: v.reason },
      'score log record invalid; not produced',
    );
    return null;
  }

  private async sendChunk(): Promise<boolean> {
    const batch: ScoreLogRecord[] = [];
    const messages: { key: string; value: string }[] = [];
    for (const r of this.queue.splice(0, this.opts.batchRecords)) {
      const m = this.encode(r);
      if (!m) continue;
      batch.push(r);
      messages.push(m);
    }
    if (messages.length === 0) return true;
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
