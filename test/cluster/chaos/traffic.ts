import { Partitioners, type Kafka, type Message } from 'kafkajs';
import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import { EventProducer } from '@mmctr/kafka';
import type { ScoreResponse } from '@mmctr/scorer';
import type { HttpResult, RunningScorer } from '../../../apps/scorer/test/support/scorer-harness';
import { makeEvents } from '../../support/ingest/events';
import { makeMalformed, type IsolatedNames } from '../../support/ingest/fixtures';
import { sleep } from '../../support/ingest/ingest-process';

/** Sends until the cluster acknowledges (acks=all): a failed send is retried with a fresh producer. */
class RetryingSender {
  private producer: EventProducer;
  failures = 0;
  /** Messages resent by the producers closed so far (see resent). */
  private resentBefore = 0;

  constructor(
    private readonly kafka: Kafka,
    private readonly names: IsolatedNames,
  ) {
    this.producer = this.create();
  }

  private create(): EventProducer {
    return new EventProducer(this.kafka, {
      eventsTopic: this.names.env.KAFKA_TOPIC_EVENTS,
      itemsTopic: this.names.env.KAFKA_TOPIC_ITEMS,
    });
  }

  async send(send: (p: EventProducer) => Promise<void>): Promise<void> {
    for (;;) {
      try {
        return await send(this.producer);
      } catch {
        this.failures++;
        await this.producer.close().catch(() => undefined);
        this.resentBefore += this.producer.resentMessages;
        await sleep(500);
        this.producer = this.create();
      }
    }
  }

  /** Messages a producer sent again because kafkajs acknowledged a send without writing them. */
  get resent(): number {
    return this.resentBefore + this.producer.resentMessages;
  }

  close(): Promise<void> {
    return this.producer.close();
  }
}

/** One user key per partition of the events topic (kafkajs' default partitioner, as the SDK uses). */
function keyPerPartition(prefix: string, partitions: number): string[] {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    partitionErrorCode: 0,
    leader: 0,
    replicas: [],
    isr: [],
  }));
  const keys: (string | undefined)[] = Array.from({ length: partitions }, () => undefined);
  for (let k = 0; keys.includes(undefined); k++) {
    const key = `${prefix}probe${k}`;
    const p = partitioner({ topic: 'events', partitionMetadata, message: { key, value: null } });
    keys[p] ??= key;
  }
  return keys as string[];
}

/**
 * The producer side: a steady stream of valid events (`rate` per second, in chunks) with a few
 * malformed messages mixed in, a catalogue, and probes (one event per partition) that tell when
 * events flow end to end again. Every id is recorded once the cluster acknowledged it.
 */
export class EventStream {
  /** Acknowledged valid event ids, each with the time its send was acknowledged. */
  readonly sent = new Map<string, number>();
  /** The user of each acknowledged valid event (its Kafka key and sharding key). */
  readonly userOf = new Map<string, string>();
  readonly malformed: string[] = [];
  readonly probeUsers: string[];
  private readonly events: BehaviourEvent[];
  private readonly bad: { key: string; value: string; id: string }[];
  private readonly stream: RetryingSender;
  private readonly probes: RetryingSender;
  private running: Promise<void> | undefined;
  private stopping = false;
  private startedAt = 0;
  private stoppedAt = 0;

  constructor(
    kafka: Kafka,
    private readonly names: IsolatedNames,
    private readonly opts = { rate: 200, chunk: 50, malformedEvery: 10, partitions: 4 },
  ) {
    this.stream = new RetryingSender(kafka, names);
    this.probes = new RetryingSender(kafka, names);
    this.events = makeEvents(names.prefix, 200_000, 500, 41);
    // Malformed bytes of every kind but the oversized one (size poison is the poison suites' topic).
    this.bad = makeMalformed(names.prefix, 2_000, this.events[0]!)
      .map((m, i) => ({ ...m, id: `${names.prefix}bad${i}` }))
      .filter((m) => m.kind !== 'oversized');
    this.probeUsers = keyPerPartition(names.prefix, opts.partitions);
  }

  get sendFailures(): number {
    return this.stream.failures + this.probes.failures;
  }

  /** Messages resent after kafkajs acknowledged a send without writing their partition. */
  get resentMessages(): number {
    return this.stream.resent + this.probes.resent;
  }

  async sendItems(items: CatalogueItem[]): Promise<void> {
    await this.stream.send((p) => p.sendItems(items));
  }

  start(): void {
    this.startedAt = Date.now();
    this.running = this.loop();
  }

  /** Seconds the stream ran (so far). */
  get elapsedS(): number {
    return ((this.stoppedAt || Date.now()) - this.startedAt) / 1000;
  }

  private async loop(): Promise<void> {
    const pauseMs = (1_000 * this.opts.chunk) / this.opts.rate;
    for (let round = 0; !this.stopping; round++) {
      const started = Date.now();
      const chunk = this.events.slice(round * this.opts.chunk, (round + 1) * this.opts.chunk);
      if (chunk.length === 0) throw new Error('the event stream ran out of pre-generated events');
      await this.stream.send((p) => p.sendEvents(chunk));
      const acked = Date.now();
      for (const e of chunk) {
        this.sent.set(e.event_id, acked);
        this.userOf.set(e.event_id, e.user_id);
      }
      if (round % this.opts.malformedEvery === 0) await this.sendMalformed(2);
      await sleep(Math.max(0, pauseMs - (Date.now() - started)));
    }
  }

  private async sendMalformed(n: number): Promise<void> {
    const next = this.bad.slice(this.malformed.length, this.malformed.length + n);
    const messages: Message[] = next.map(({ key, value }) => ({ key, value }));
    await this.stream.send((p) => p.sendRaw(this.names.env.KAFKA_TOPIC_EVENTS, messages));
    this.malformed.push(...next.map((m) => m.id));
  }

  /** One valid event per partition, ids `<prefix>probe-<tag>-<round>-<partition>`. */
  async probe(tag: string, round: number): Promise<void> {
    const now = Date.now();
    const events: BehaviourEvent[] = this.probeUsers.map((user_id, p) => ({
      schema_version: 1,
      event_id: `${this.probePrefix(tag)}${round}-${p}`,
      type: 'impression',
      ts_ms: now,
      user_id,
      item_id: `${this.names.prefix}i0`,
      request_id: `${this.names.prefix}probe-${tag}-${round}`,
    }));
    await this.probes.send((p) => p.sendEvents(events));
    const acked = Date.now();
    for (const e of events) {
      this.sent.set(e.event_id, acked);
      this.userOf.set(e.event_id, e.user_id);
    }
  }

  probePrefix(tag: string): string {
    return `${this.names.prefix}probe-${tag}-`;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    this.stoppedAt ||= Date.now();
    await Promise.all([this.stream.close(), this.probes.close()]);
  }
}

export interface ScoringCounts {
  requests: number;
  ok: number;
  degraded: number;
  client4xx: number;
  server5xx: number;
  /** No HTTP answer at all (connection refused or reset). */
  failed: number;
}

/** Scoring requests spread over the scorer replicas by `workers` loops, each outcome counted. */
export class ScoringLoad {
  readonly counts: ScoringCounts = { requests: 0, ok: 0, degraded: 0, client4xx: 0, server5xx: 0, failed: 0 };
  /** The first few non-200 outcomes, to name them in a failure. */
  readonly problems: string[] = [];
  private stopping = false;
  private running: Promise<void[]> | undefined;

  constructor(
    private readonly scorers: RunningScorer[],
    private readonly prefix: string,
    private readonly opts = { workers: 2, pauseMs: 50, users: 500, items: 200, candidates: 20 },
  ) {}

  start(): void {
    this.running = Promise.all(Array.from({ length: this.opts.workers }, (_, w) => this.worker(w)));
  }

  private async worker(w: number): Promise<void> {
    for (let n = 0; !this.stopping; n++) {
      const scorer = this.scorers[(n + w) % this.scorers.length]!;
      const first = (n * 7 + w * 13) % this.opts.items;
      const candidates = Array.from({ length: this.opts.candidates }, (_, k) => ({
        item_id: `${this.prefix}i${(first + k) % this.opts.items}`,
        position: k,
      }));
      const user_id = `${this.prefix}u${(n * 31 + w) % this.opts.users}`;
      this.count(await scorer.score({ user_id, candidates }).catch((err: Error) => err));
      await sleep(this.opts.pauseMs);
    }
  }

  private count(res: HttpResult<ScoreResponse> | Error): void {
    const c = this.counts;
    c.requests++;
    if (res instanceof Error) c.failed++;
    else if (res.status === 200 && res.body.degraded) c.degraded++;
    else if (res.status === 200) c.ok++;
    else if (res.status >= 500) c.server5xx++;
    else c.client4xx++;
    if ((res instanceof Error || res.status !== 200) && this.problems.length < 10)
      this.problems.push(res instanceof Error ? res.message : `${res.status} ${JSON.stringify(res.body)}`);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }
}
