import type { Kafka, Message, Producer } from 'kafkajs';
import type { AppConfig } from '@mmctr/config';
import { DLQ_HEADERS } from '@mmctr/contracts';
import { AcknowledgedSender } from './acknowledged-send';
import { DEFAULT_BATCH_BYTES, chunkMessages } from './event-producer';

/** Headers a dead letter carries besides DLQ_HEADERS (reason and origin). */
export const DLQ_ENVELOPE_HEADERS = {
  /** Bytes of the original value (always set). */
  size: 'mmctr-original-size',
  /** "true" when the value holds only the first bytes of the original (the original was too large). */
  truncated: 'mmctr-dlq-truncated',
  /** The ClickHouse error code, for rows the server refused. */
  errorCode: 'mmctr-dlq-error-code',
} as const;

/** Something that cannot be stored, with why and where it came from. */
export interface DeadLetterInput {
  reason: string;
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  /** ClickHouse error code of a refused row. */
  errorCode?: number;
}

export interface DeadLetterLimits {
  /** Largest dead letter written whole (key + value + headers); larger ones are truncated. */
  maxMessageBytes: number;
  /** Bytes of the original value a truncated dead letter keeps. */
  headBytes: number;
}

export const DEFAULT_DEAD_LETTER_LIMITS: DeadLetterLimits = {
  // Under the 1 MB message limit of a broker with default settings (this stack allows 2 MiB).
  maxMessageBytes: 1_000_000,
  headBytes: 64 * 1024,
};

const MAX_REASON_CHARS = 4_096;
const MAX_KEY_BYTES = 1_024;
// Record framing, attributes, varints: generous, so an estimate just under the limit is still under.
const RECORD_OVERHEAD = 256;

export interface DeadLetterRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

const headerBytes = (h: Record<string, string>) =>
  Object.entries(h).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);

export const recordBytes = (r: DeadLetterRecord): number =>
  (r.key?.length ?? 0) + (r.value?.length ?? 0) + headerBytes(r.headers) + RECORD_OVERHEAD;

/**
 * The dead letter for `d`: the original key and bytes, reason and origin in headers. One that would
 * exceed `limits.maxMessageBytes` becomes a truncated envelope (the first `headBytes` of the value,
 * the original size, `truncated: true`), so a record the broker accepted can always be dead-lettered.
 */
export function deadLetterRecord(
  d: DeadLetterInput,
  limits: DeadLetterLimits = DEFAULT_DEAD_LETTER_LIMITS,
): DeadLetterRecord {
  const reason = d.reason.length > MAX_REASON_CHARS ? `${d.reason.slice(0, MAX_REASON_CHARS)}…` : d.reason;
  const headers: Record<string, string> = {
    [DLQ_HEADERS.reason]: reason,
    [DLQ_HEADERS.topic]: d.topic,
    [DLQ_HEADERS.partition]: String(d.partition),
    [DLQ_HEADERS.offset]: d.offset,
    [DLQ_ENVELOPE_HEADERS.size]: String(d.value?.length ?? 0),
  };
  if (d.errorCode !== undefined) headers[DLQ_ENVELOPE_HEADERS.errorCode] = String(d.errorCode);
  const whole: DeadLetterRecord = { key: d.key, value: d.value, headers };
  if (recordBytes(whole) <= limits.maxMessageBytes) return whole;
  return truncated(whole, limits.headBytes);
}

function truncated(r: DeadLetterRecord, headBytes: number): DeadLetterRecord {
  return {
    key: r.key && r.key.length > MAX_KEY_BYTES ? r.key.subarray(0, MAX_KEY_BYTES) : r.key,
    value: r.value ? r.value.subarray(0, Math.min(headBytes, r.value.length)) : r.value,
    headers: { ...r.headers, [DLQ_ENVELOPE_HEADERS.truncated]: 'true' },
  };
}

/** kafkajs reports a record or request the broker refused for its size with these protocol types. */
function tooLarge(err: unknown): boolean {
  for (let e = err as { type?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; i++) {
    if (e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE') return true;
    e = e.cause as typeof e;
  }
  return /MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE|larger than the (max|maximum)/i.test(String(err));
}

/**
 * Writes dead letters to one topic (idempotent producer, acks=-1). A dead letter never stalls its
 * writer for its size: it is truncated up front when over the limit, and if the broker still refuses
 * it (a topic with a lower max.message.bytes), it is written alone with a smaller head, then with none.
 * Other failures (broker down) are thrown for the caller to retry.
 */
export class DeadLetterProducer {
  private readonly producer: Producer;
  /** Resends what kafkajs left unwritten after a partition leader moved (see AcknowledgedSender). */
  private readonly acknowledged = new AcknowledgedSender();
  private connected: Promise<void> | undefined;

  constructor(
    kafka: Kafka,
    private readonly topic: string,
    private readonly limits: DeadLetterLimits = DEFAULT_DEAD_LETTER_LIMITS,
  ) {
    // Idempotent: a retried send after a lost ack does not duplicate dead letters.
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: this.acknowledged.createPartitioner,
    });
  }

  /** The platform DLQ topic with the configured size limits (DLQ_MAX_MESSAGE_BYTES, DLQ_HEAD_BYTES). */
  static fromConfig(
    kafka: Kafka,
    config: Pick<AppConfig, 'KAFKA_TOPIC_DLQ' | 'DLQ_MAX_MESSAGE_BYTES' | 'DLQ_HEAD_BYTES'>,
  ): DeadLetterProducer {
    return new DeadLetterProducer(kafka, config.KAFKA_TOPIC_DLQ, {
      maxMessageBytes: config.DLQ_MAX_MESSAGE_BYTES,
      headBytes: config.DLQ_HEAD_BYTES,
    });
  }

  connect(): Promise<void> {
    this.connected ??= this.producer.connect().catch((err: unknown) => {
      this.connected = undefined;
      throw err;
    });
    return this.connected;
  }

  /** Resolves once every letter is acknowledged; returns how many went out truncated. */
  async send(letters: readonly DeadLetterInput[]): Promise<{ truncated: number }> {
    if (letters.length === 0) return { truncated: 0 };
    await this.connect();
    const records = letters.map((l) => deadLetterRecord(l, this.limits));
    let truncatedCount = records.filter((r) => r.headers[DLQ_ENVELOPE_HEADERS.truncated]).length;
    for (const batch of chunkMessages(records as Message[], 1_000, DEFAULT_BATCH_BYTES)) {
      try {
        await this.write(batch);
      } catch (err) {
        if (!tooLarge(err)) throw err;
        for (const r of batch as DeadLetterRecord[]) truncatedCount += await this.writeShrinking(r);
      }
    }
    return { truncated: truncatedCount };
  }

  /** One record alone, smaller each time the broker refuses it for its size; 1 if it was cut here. */
  private async writeShrinking(r: DeadLetterRecord): Promise<number> {
    const heads = [this.limits.headBytes, 1_024, 0];
    let candidate: DeadLetterRecord = r;
    for (let i = 0; ; i++) {
      try {
        await this.write([candidate]);
        return candidate === r ? 0 : r.headers[DLQ_ENVELOPE_HEADERS.truncated] ? 0 : 1;
      } catch (err) {
        if (!tooLarge(err) || i >= heads.length) throw err;
        candidate = truncated(r, heads[i]!);
      }
    }
  }

  private async write(messages: Message[]): Promise<void> {
    await this.acknowledged.send(this.producer, { topic: this.topic, acks: -1, messages });
  }

  async disconnect(): Promise<void> {
    if (this.connected) await this.producer.disconnect().catch(() => undefined);
    this.connected = undefined;
  }
}
