import type { EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { BatchConsumer, withHeartbeat, type FetchedBatch } from './batch-consumer';

/** The parts of a kafkajs consumer the BatchConsumer drives, recording what it is asked to do. */
class FakeConsumer {
  readonly events = { REBALANCING: 'rebalancing', GROUP_JOIN: 'group_join', CRASH: 'crash' } as const;
  readonly listeners = new Map<string, (e: { payload: unknown }) => void>();
  readonly commits: { topic: string; partition: number; offset: string }[][] = [];
  readonly calls: string[] = [];
  eachBatch: ((p: EachBatchPayload) => Promise<void>) | undefined;
  failCommit = false;

  on(event: string, listener: (e: { payload: unknown }) => void) {
    this.listeners.set(event, listener);
  }
  emit(event: string, payload: unknown = {}) {
    this.listeners.get(event)!({ payload });
  }
  join(assignment: Record<string, number[]>) {
    this.emit(this.events.GROUP_JOIN, { memberAssignment: assignment, groupId: 'g' });
  }
  connect = async () => undefined;
  subscribe = async () => undefined;
  run = async (opts: { eachBatch: (p: EachBatchPayload) => Promise<void> }) => {
    this.eachBatch = opts.eachBatch;
  };
  commitOffsets = async (offsets: { topic: string; partition: number; offset: string }[]) => {
    if (this.failCommit) throw new Error('NOT_COORDINATOR');
    this.commits.push(offsets);
  };
  pause = (topics: { topic: string }[]) => this.calls.push(`pause ${topics.map((t) => t.topic).join(',')}`);
  resume = (topics: { topic: string }[]) => this.calls.push(`resume ${topics.map((t) => t.topic).join(',')}`);
  disconnect = async () => {
    this.calls.push('disconnect');
  };
}

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A started consumer whose handler records each batch; `pending` stands for the caller's queue. */
async function started(stallTimeoutMs = 1_000, pending?: () => boolean) {
  const fake = new FakeConsumer();
  const kafka = { consumer: () => fake } as unknown as Kafka;
  const consumer = new BatchConsumer(kafka, {
    groupId: 'g',
    topics: ['a', 'b'],
    log: silent,
    stallTimeoutMs,
  });
  const seen: FetchedBatch[] = [];
  await consumer.start(async (b) => {
    seen.push(b);
  }, pending);
  return { fake, consumer, seen };
}

/** Delivers one batch of `offsets` on topic/partition, as kafkajs's eachBatch would. */
async function deliver(
  fake: FakeConsumer,
  topic: string,
  partition: number,
  offsets: number[],
  opts: { lag?: number; stale?: boolean } = {},
) {
  const resolved: string[] = [];
  const payload = {
    batch: {
      topic,
      partition,
      messages: offsets.map((o) => ({
        offset: String(o),
        key: null,
        value: Buffer.from('x'),
      })) as KafkaMessage[],
      offsetLag: () => String(opts.lag ?? 0),
    },
    isRunning: () => true,
    isStale: () => opts.stale ?? false,
    heartbeat: async () => undefined,
    resolveOffset: (o: string) => resolved.push(o),
  } as unknown as EachBatchPayload;
  await fake.eachBatch!(payload);
  return resolved;
}

describe('BatchConsumer', () => {
  it('hands over each batch with its range and generation, and commits one past its last offset', async () => {
    const { fake, consumer, seen } = await started();
    fake.join({ a: [0], b: [0] });
    expect(consumer.ping()).toEqual({ ok: true });

    const resolved = await deliver(fake, 'a', 0, [5, 6, 7]);
    expect(resolved).toEqual(['7']);
    expect(seen[0]).toMatchObject({
      topic: 'a',
      partition: 0,
      firstOffset: '5',
      lastOffset: '7',
      generation: 1,
    });
    expect(await consumer.commit(seen)).toEqual({ result: 'ok', skipped: 0 });
    expect(fake.commits).toEqual([[{ topic: 'a', partition: 0, offset: '8' }]]);
  });

  it('never commits a range fetched before a rebalance or of a partition since revoked', async () => {
    const { fake, consumer, seen } = await started();
    fake.join({ a: [0, 1] });
    await deliver(fake, 'a', 0, [1]);
    await deliver(fake, 'a', 1, [1]);
    fake.emit(fake.events.REBALANCING);
    expect(consumer.ready).toBe(false);
    fake.join({ a: [1] });
    await deliver(fake, 'a', 1, [2]);

    expect(await consumer.commit(seen.slice(0, 2))).toEqual({ result: 'none', skipped: 2 });
    expect(await consumer.commit(seen.slice(2))).toEqual({ result: 'ok', skipped: 0 });
    expect(fake.commits).toEqual([[{ topic: 'a', partition: 1, offset: '3' }]]);
  });

  it('leaves a stale batch unhandled and unresolved, and reports a failed commit without throwing', async () => {
    const { fake, consumer, seen } = await started();
    fake.join({ a: [0] });
    expect(await deliver(fake, 'a', 0, [1], { stale: true })).toEqual([]);
    expect(seen).toHaveLength(0);

    await deliver(fake, 'a', 0, [1]);
    fake.failCommit = true;
    expect(await consumer.commit(seen)).toEqual({ result: 'failed', skipped: 0 });
  });

  it('is stalled while messages wait past the stall timeout without a commit, and not once committed', async () => {
    let holding = false;
    const { fake, consumer, seen } = await started(1_000, () => holding);
    fake.join({ a: [0] });
    const t0 = Date.now();
    expect(consumer.consumption(t0 + 5_000)).toMatchObject({ ok: true, sinceProgressMs: 0, lag: 0 });

    await deliver(fake, 'a', 0, [1, 2], { lag: 40 });
    holding = true;
    const later = Date.now() + 2_000;
    expect(consumer.consumption(later)).toMatchObject({ ok: false, lag: 40 });

    await consumer.commit(seen);
    holding = false;
    await deliver(fake, 'a', 0, [3], { lag: 0 });
    expect(consumer.consumption()).toMatchObject({ ok: true, lag: 0 });
  });

  it('pauses on request and again after a rejoin; a stop pauses, drains, leaves, and is never resumed', async () => {
    const { fake, consumer } = await started();
    fake.join({ a: [0] });
    consumer.setPaused(true);
    consumer.setPaused(false);
    fake.join({ a: [0] }); // not paused: nothing to re-apply
    consumer.setPaused(true);
    fake.join({ a: [0] }); // a pause is re-applied after each join
    expect(fake.calls).toEqual(['pause a,b', 'resume a,b', 'pause a,b', 'pause a,b']);

    fake.calls.length = 0;
    await consumer.stop(async () => {
      fake.calls.push('drain');
    });
    consumer.setPaused(false);
    expect(fake.calls).toEqual(['pause a,b', 'drain', 'disconnect']);
    expect(consumer.ping()).toEqual({ ok: false });
    expect(await deliver(fake, 'a', 0, [9])).toEqual([]);
  });
});

describe('BatchConsumer before its group join', () => {
  it('stops and pauses without throwing while kafkajs refuses pause/resume (no group yet)', async () => {
    const { fake, consumer } = await started();
    const refuse = () => {
      throw new Error('Consumer group was not initialized, consumer#run must be called first');
    };
    fake.pause = refuse;
    fake.resume = refuse;
    consumer.setPaused(true);
    consumer.setPaused(false);
    await consumer.stop(async () => {
      fake.calls.push('drain');
    });
    expect(fake.calls).toEqual(['drain', 'disconnect']);
  });

  it('still surfaces any other pause failure', async () => {
    const { fake, consumer } = await started();
    fake.pause = () => {
      throw new Error('boom');
    };
    expect(() => consumer.setPaused(true)).toThrow('boom');
  });
});

describe('withHeartbeat', () => {
  afterEach(() => jest.useRealTimers());

  it('heartbeats while the work runs, ignores failed heartbeats, and resolves with its result', async () => {
    jest.useFakeTimers();
    let finish!: (v: string) => void;
    const work = new Promise<string>((resolve) => (finish = resolve));
    let beats = 0;
    const result = withHeartbeat(
      work,
      async () => {
        beats++;
        throw new Error('REBALANCE_IN_PROGRESS');
      },
      1_000,
    );
    await jest.advanceTimersByTimeAsync(3_500);
    expect(beats).toBe(3);
    finish('stored');
    await expect(result).resolves.toBe('stored');
    await jest.advanceTimersByTimeAsync(5_000);
    expect(beats).toBe(3);
  });
});
