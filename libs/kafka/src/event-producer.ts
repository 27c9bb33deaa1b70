import type { Kafka, Message, Producer } from 'kafkajs';
import {
  MAX_MESSAGE_BYTES,
  findIllFormedString,
  isWellFormed,
  validate,
  type BehaviourEvent,
  type CatalogueItem,
} from '@mmctr/contracts';
import { AcknowledgedSender } from './acknowledged-send';

export interface EventProducerOptions {
  eventsTopic: string;
  itemsTopic: string;
  /** Most messages per produce request (default 5,000). */
  batchSize?: number;
  /** Most value+key bytes per produce request (default 900 kB, under the broker's 1 MB batch limit). */
  batchBytes?: number;
  /**
   * Validate against the contracts before sending and reject the whole call if any is invalid (default
   * true). Even without it, a record larger than MAX_MESSAGE_BYTES encoded or with a lone surrogate in
   * any string is refused: ingest could only dead-letter the first, and UTF-8 cannot carry the second.
   */
  validate?: boolean;
}

export const DEFAULT_BATCH_BYTES = 900_000;

const sizeOf = (v: Message['value'] | Message['key']): number =>
  v == null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length;

/**
 * Splits messages into produce requests of at most `maxCount` messages and about `maxBytes` bytes
 * (a single larger message goes alone): the broker rejects a whole request whose batch is too big.
 */
export function chunkMessages<M extends Message>(
  messages: readonly M[],
  maxCount: number,
  maxBytes: number,
): M[][] {
  const out: M[][] = [];
  let cur: M[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = sizeOf(m.value) + sizeOf(m.key) + 64;
    if (cur.length > 0 && (cur.length >= maxCount || bytes + size > maxBytes)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(m);
    bytes += size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

export class InvalidRecordError extends Error {
  constructor(readonly problems: { index: number; reason: string }[]) {
    super(
      `${problems.length} invalid record(s): ` +
        problems
          .slice(0, 5)
          .map((p) => `#${p.index} ${p.reason}`)
          .join('; '),
    );
    this.name = 'InvalidRecordError';
  }
}

/**
 * Typed producer for the platform's topics. Events are keyed by user_id (one user's events stay in
 * order on one partition) and items by item_id. The producer is idempotent: a retried request does
 * not duplicate messages in Kafka (and ingest stores each event_id once anyway).
 */
export class EventProducer {
  private readonly producer: Producer;
  /** Resends what kafkajs left unwritten after a partition leader moved (see AcknowledgedSender). */
  private readonly acknowledged = new AcknowledgedSender();
  private connected: Promise<void> | undefined;
  private readonly batchSize: number;

  constructor(
    kafka: Kafka,
    private readonly opts: EventProducerOptions,
  ) {
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: this.acknowledged.createPartitioner,
    });
    this.batchSize = opts.batchSize ?? 5_000;
  }

  /** Messages sent again because kafkajs answered a send without their partition (see AcknowledgedSender). */
  get resentMessages(): number {
    return this.acknowledged.resent;
  }

  connect(): Promise<void> {
    this.connected ??= this.producer.connect();
    return this.connected;
  }

  async sendEvents(events: readonly BehaviourEvent[]): Promise<void> {
    await this.sendRaw(
      this.opts.eventsTopic,
      this.encode('event', events, (e) => e.user_id),
    );
  }

  async sendItems(items: readonly CatalogueItem[]): Promise<void> {
    await this.sendRaw(
      this.opts.itemsTopic,
      this.encode('item', items, (i) => i.item_id),
    );
  }

  /**
   * Sends already-encoded messages as they are, in requests bounded by `batchSize` and `batchBytes`.
   * Buffers go byte for byte (ingest dead-letters what breaks the contract, size included); a string
   * key or value with a lone surrogate is refused, as kafkajs would send U+FFFD in its place.
   */
  async sendRaw(topic: string, messages: readonly Message[]): Promise<void> {
    const problems: { index: number; reason: string }[] = [];
    messages.forEach((m, index) => {
      if (typeof m.key === 'string' && !isWellFormed(m.key))
        problems.push({ index, reason: 'key is not well-formed Unicode (lone surrogate)' });
      else if (typeof m.value === 'string' && !isWellFormed(m.value))
        problems.push({ index, reason: 'value is not well-formed Unicode (lone surrogate)' });
    });
    if (problems.length > 0) throw new InvalidRecordError(problems);
    await this.connect();
    for (const batch of chunkMessages(
      messages,
      this.batchSize,
      this.opts.batchBytes ?? DEFAULT_BATCH_BYTES,
    )) {
      await this.acknowledged.send(this.producer, { topic, acks: -1, messages: batch });
    }
  }

  async close(): Promise<void> {
    if (this.connected) await this.producer.disconnect();
    this.connected = undefined;
  }

  /** JSON messages of `records`, or an InvalidRecordError listing every record that cannot be sent. */
  private encode<T>(kind: 'event' | 'item', records: readonly T[], key: (r: T) => string): Message[] {
    const problems: { index: number; reason: string }[] = [];
    const messages = records.map((r, index): Message => {
      const v = this.opts.validate === false ? undefined : validate(kind, r);
      if (v && !v.ok) {
        problems.push({ index, reason: v.reason });
        return { value: null };
      }
      const illFormed = v ? undefined : findIllFormedString(r);
      if (illFormed) problems.push({ index, reason: illFormed });
      const value = JSON.stringify(r);
      const bytes = Buffer.byteLength(value);
      if (bytes > MAX_MESSAGE_BYTES)
        problems.push({
          index,
          reason: `oversized: ${bytes} bytes > MAX_MESSAGE_BYTES (${MAX_MESSAGE_BYTES})`,
        });
      const k = key(r);
      return { key: typeof k === 'string' && isWellFormed(k) ? k : null, value };
    });
    if (problems.length > 0) throw new InvalidRecordError(problems);
    return messages;
  }
}
