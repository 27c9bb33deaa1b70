import type { Consumer, ConsumerConfig, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { offsetsToCommit, type FetchedRange } from './offsets';

export const HEARTBEAT_EVERY_MS = 3_000;

/** Resolves with `work`, heartbeating meanwhile so a long store does not get the member kicked out. */
export async function withHeartbeat<T>(
  work: Promise<T>,
  heartbeat: () => Promise<void>,
  everyMs = HEARTBEAT_EVERY_MS,
): Promise<T> {
  let value!: T;
  const done = work.then((v) => {
    value = v;
    return true;
  });
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const tick = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), everyMs)));
    const finished = await Promise.race([done, tick]);
    clearTimeout(timer);
    if (finished) return value;
    // A failed heartbeat means a rebalance is under way; kafkajs rejoins after this batch returns.
    await heartbeat().catch(() => undefined);
  }
}

/** The log calls the consumer makes (a pino Logger fits). */
export interface BatchConsumerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface BatchConsumerOptions {
  groupId: string;
  topics: readonly string[];
  log: BatchConsumerLog;
  /** No commit for this long while messages wait counts as stalled (see consumption()). */
  stallTimeoutMs: number;
  /** kafkajs consumer settings over the defaults (3 s heartbeats, no topic creation, restart on crash). */
  consumer?: Partial<Omit<ConsumerConfig, 'groupId'>>;
  partitionsConsumedConcurrently?: number;
}

/** One partition's fetched messages as handed to the caller. */
export interface FetchedBatch extends FetchedRange {
  messages: KafkaMessage[];
  /** High watermark minus the last fetched offset. */
  lag: number;
  heartbeat(): Promise<void>;
  /** `work`'s result, heartbeating every few seconds while it runs. */
  heartbeatWhile<T>(work: Promise<T>): Promise<T>;
  /** Still this member's to store and commit: running, not stopping, no rebalance since the fetch. */
  current(): boolean;
}

export type BatchHandler = (batch: FetchedBatch) => Promise<void>;

export interface CommitResult {
  /** ok: committed; failed: the broker refused (a later commit covers it, or it is redelivered). */
  result: 'ok' | 'failed' | 'none';
  /** Ranges of an older generation or a revoked partition, left uncommitted. */
  skipped: number;
}

export interface ConsumptionHealth {
  /** False when messages have waited longer than stallTimeoutMs since the last commit. */
  ok: boolean;
  sinceProgressMs: number;
  /** Summed lag of the partitions at their last fetch. */
  lag: number;
}

/**
 * A kafkajs consumer-group member that hands each fetched partition batch to a handler and commits
 * only the ranges the caller says are stored (autoCommit is off). It tracks the group generation and
 * assignment so that ranges fetched before a rebalance, or of partitions since revoked, are never
 * committed; it keeps the lag of each partition and the time of the last commit for readiness; it
 * pauses the topics on request (again after each rejoin) and stops gracefully: pause, let the caller
 * drain, leave the group.
 */
export class BatchConsumer {
  private consumer: Consumer | undefined;
  private generation = 0;
  private assignment: Record<string, number[]> = {};
  private joined = false;
  private stopping = false;
  private paused = false;
  private handling = 0;
  /** Last commit, or when work arrived while there was none: the clock of the stall check. */
  private progressAt = Date.now();
  private readonly lagByPartition = new Map<string, number>();
  private pending: () => boolean = () => false;

  constructor(
    private readonly kafka: Kafka,
    private readonly opts: BatchConsumerOptions,
  ) {}

  /** Member of the group and not shutting down. */
  get ready(): boolean {
    return this.joined && !this.stopping;
  }

  /** Kafka's readiness check: this member is in its group (no broker round trip per probe). */
  ping(): { ok: boolean } {
    return { ok: this.ready };
  }

  /** Messages fetched but not committed, or known to wait on the broker. */
  private get waiting(): boolean {
    if (this.handling > 0 || this.pending()) return true;
    for (const lag of this.lagByPartition.values()) if (lag > 0) return true;
    return false;
  }

  /** Not stalled: a commit within stallTimeoutMs whenever messages wait. */
  consumption(now = Date.now()): ConsumptionHealth {
    const waiting = this.waiting;
    if (!waiting) this.progressAt = now;
    const sinceProgressMs = now - this.progressAt;
    let lag = 0;
    for (const l of this.lagByPartition.values()) lag += l;
    return { ok: !waiting || sinceProgressMs <= this.opts.stallTimeoutMs, sinceProgressMs, lag };
  }

  /**
   * Joins the group (a new group starts at the earliest offsets) and runs `handler` per batch.
   * `pending` says whether the caller still holds fetched, uncommitted messages (queued or storing).
   */
  async start(handler: BatchHandler, pending?: () => boolean): Promise<void> {
    const { log, groupId } = this.opts;
    if (pending) this.pending = pending;
    const consumer = this.kafka.consumer({
      heartbeatInterval: HEARTBEAT_EVERY_MS,
      allowAutoTopicCreation: false,
      // Never give up consuming: a crashed consumer restarts instead of leaving the process idle.
      retry: { retries: 10, restartOnFailure: async () => true },
      ...this.opts.consumer,
      groupId,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.REBALANCING, () => {
      // Anything fetched before the rebalance must not be committed by us any more.
      this.generation++;
      this.joined = false;
      this.lagByPartition.clear();
      log.info({ groupId }, 'consumer group rebalancing');
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.generation++;
      this.assignment = payload.memberAssignment;
      this.joined = true;
      this.lagByPartition.clear();
      this.progressAt = Date.now();
      log.info({ assignment: payload.memberAssignment, groupId }, 'consumer group joined');
      if (this.paused || this.stopping) consumer.pause(this.topicList());
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.joined = false;
      log.error({ err: payload.error.message, restart: payload.restart, groupId }, 'consumer crashed');
    });

    await consumer.connect();
    await consumer.subscribe({ topics: [...this.opts.topics], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      // The fetch position moves once the handler returns; commits are the caller's.
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.opts.partitionsConsumedConcurrently ?? 1,
      eachBatch: (payload) => this.onBatch(payload, handler),
    });
  }

  private async onBatch(payload: EachBatchPayload, handler: BatchHandler): Promise<void> {
    const { batch } = payload;
    const first = batch.messages[0];
    const last = batch.messages[batch.messages.length - 1];
    // Not handed over means not committed: whatever is skipped here is redelivered.
    if (!first || !last || this.stopping || !payload.isRunning() || payload.isStale()) return;
    const lag = Number(batch.offsetLag());
    if (!this.waiting) this.progressAt = Date.now();
    this.lagByPartition.set(`${batch.topic}\u0000${batch.partition}`, lag);
    const heartbeat = () => payload.heartbeat();
    this.handling++;
    try {
      await handler({
        topic: batch.topic,
        partition: batch.partition,
        firstOffset: first.offset,
        lastOffset: last.offset,
        generation: this.generation,
        messages: batch.messages,
        lag,
        heartbeat,
        heartbeatWhile: (work) => withHeartbeat(work, heartbeat),
        current: () => !this.stopping && payload.isRunning() && !payload.isStale(),
      });
    } finally {
      this.handling--;
    }
    payload.resolveOffset(last.offset);
  }

  /** Commits the stored `ranges` that are still ours; a failed commit is logged, not thrown. */
  async commit(ranges: readonly FetchedRange[]): Promise<CommitResult> {
    const { commit, skipped } = offsetsToCommit(
      ranges,
      this.generation,
      (topic, partition) => this.assignment[topic]?.includes(partition) ?? false,
    );
    if (skipped > 0)
      this.opts.log.info({ skipped }, 'not committing ranges of revoked partitions or an older generation');
    if (commit.length === 0 || !this.consumer) return { result: 'none', skipped };
    try {
      await this.consumer.commitOffsets(commit);
      this.progressAt = Date.now();
      return { result: 'ok', skipped };
    } catch (err) {
      // The data is stored; an uncommitted offset only means a harmless redelivery.
      this.opts.log.warn({ err: (err as Error).message, commit }, 'offset commit failed');
      return { result: 'failed', skipped };
    }
  }

  /** Pauses or resumes fetching on every topic; a pause outlives rejoins, and nothing resumes a stop. */
  setPaused(paused: boolean): void {
    this.paused = paused;
    if (paused) this.pauseFetching();
    else if (!this.stopping) this.whenJoined(() => this.consumer?.resume(this.topicList()));
  }

  /** Stops taking batches, awaits `drain` (store and commit what the caller holds), leaves the group. */
  async stop(drain?: () => Promise<void>): Promise<void> {
    this.stopping = true;
    this.pauseFetching();
    try {
      await drain?.();
    } finally {
      await this.consumer
        ?.disconnect()
        .catch((err: Error) => this.opts.log.warn({ err: err.message }, 'consumer disconnect failed'));
    }
  }

  private pauseFetching(): void {
    this.whenJoined(() => this.consumer?.pause(this.topicList()));
  }

  /**
   * kafkajs throws from pause/resume until the consumer has joined its group (a topic that does not exist
   * yet keeps it out). Nothing is fetched before the join, and a join re-applies the pause, so skipping is safe.
   */
  private whenJoined(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (!/not initialized/i.test((err as Error).message)) throw err;
    }
  }

  private topicList(): { topic: string }[] {
    return this.opts.topics.map((topic) => ({ topic }));
  }
}
