import { EventEmitter } from 'node:events';
import type { ScoreLogRecord } from '@mmctr/contracts';
import { startWorkerThread } from '@mmctr/observability';
import type { ScoreLogToThread } from './score-log-sender';
import { ScoreLogProducer } from './score-log.producer';
import { testScoreLogRecord } from '../../test/support/score-log-record';

jest.mock('@mmctr/observability', () => ({
  ...jest.requireActual<object>('@mmctr/observability'),
  startWorkerThread: jest.fn(),
}));

class FakeThread extends EventEmitter {
  posted: ScoreLogToThread[] = [];
  postMessage(m: ScoreLogToThread) {
    this.posted.push(m);
    if ('close' in m) setImmediate(() => this.emit('message', { closed: true }));
  }
  unref() {}
  async terminate() {
    return 0;
  }
}

const record = (i: number): ScoreLogRecord => testScoreLogRecord(i);

describe('ScoreLogProducer', () => {
  let thread: FakeThread;
  let counted: [string, number][];
  let errors: unknown[];
  const producer = (enabled = true, maxQueue = 100) => {
    const p = new ScoreLogProducer(
      { KAFKA_BROKERS: ['k:9092'], KAFKA_CLIENT_ID: 'c', KAFKA_TOPIC_SCORES: 'scores' } as never,
      {
        SCORER_SCORE_LOG_ENABLED: enabled,
        SCORER_SCORE_LOG_MAX_QUEUE: maxQueue,
        SCORER_SCORE_LOG_BATCH_RECORDS: 8,
        SCORER_SCORE_LOG_MAX_BATCH_BYTES: 1_000_000,
        SCORER_SCORE_LOG_FLUSH_MS: 200,
      } as never,
      { scoreLogs: { inc: (l: { result: string }, n = 1) => counted.push([l.result, n]) } } as never,
      { error: (o: unknown) => errors.push(o), warn: () => undefined } as never,
    );
    p.onApplicationBootstrap();
    return p;
  };
  const ids = (m: ScoreLogToThread | undefined) =>
    m && 'records' in m
      ? m.records.map(
          (r) => (JSON.parse(`${new TextDecoder().decode(r.head)}}`) as ScoreLogRecord).request_id,
        )
      : m;

  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['setImmediate'] });
    thread = new FakeThread();
    jest
      .mocked(startWorkerThread)
      .mockReset()
      .mockReturnValue(thread as never);
    counted = [];
    errors = [];
  });
  afterEach(() => jest.useRealTimers());

  it('hands the records of each flush interval over in one message', () => {
    const p = producer();
    p.publish(record(0));
    p.publish(record(1));
    jest.advanceTimersByTime(199);
    expect(thread.posted).toEqual([]);
    jest.advanceTimersByTime(1);
    p.publish(record(2));
    jest.advanceTimersByTime(200);
    expect(thread.posted.map(ids)).toEqual([['r0', 'r1'], ['r2']]);
    expect(jest.getTimerCount()).toBe(0);
    expect(startWorkerThread).toHaveBeenCalledWith(
      expect.any(String),
      'score-log.thread',
      expect.anything(),
      {
        resourceLimits: { maxYoungGenerationSizeMb: 4 },
      },
    );
  });

  it('hands an invalid record over unchecked (the thread checks it), and drops beyond the bound', () => {
    const p = producer(true, 2);
    p.publish({ ...record(0), ctrs: [NaN] });
    for (let i = 1; i <= 3; i++) p.publish(record(i));
    jest.advanceTimersByTime(200);
    expect(counted).toEqual([
      ['dropped', 1],
      ['dropped', 1],
    ]);
    expect(thread.posted.map(ids)).toEqual([['r0', 'r1']]);
  });

  it("logs the thread's error lines at error level", () => {
    producer();
    thread.emit('message', { log: 'error', obj: { request_id: 'r0' }, msg: 'score log record invalid' });
    expect(errors).toEqual([{ request_id: 'r0' }]);
  });

  it('counts what the thread reports', () => {
    producer();
    thread.emit('message', { count: 'produced', n: 7 });
    expect(counted).toEqual([['produced', 7]]);
  });

  it('on shutdown hands over what is gathered before asking the thread to close', async () => {
    const p = producer();
    p.publish(record(0));
    await p.onApplicationShutdown();
    expect(thread.posted.map(ids)).toEqual([['r0'], { close: true }]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('keeps the records published while a dead thread restarts, for the new thread', () => {
    const p = producer();
    const next = new FakeThread();
    jest.mocked(startWorkerThread).mockReturnValue(next as never);
    thread.emit('exit', 1); // restarted after 1 s
    p.publish(record(0));
    jest.advanceTimersByTime(200); // no thread to hand over to: kept
    expect(thread.posted).toEqual([]);
    jest.advanceTimersByTime(800);
    expect(startWorkerThread).toHaveBeenCalledTimes(2);
    jest.advanceTimersByTime(200);
    expect(next.posted.map(ids)).toEqual([['r0']]);
  });

  it('does nothing while disabled', () => {
    const p = producer(false);
    p.publish(record(0));
    expect(startWorkerThread).not.toHaveBeenCalled();
    expect(jest.getTimerCount()).toBe(0);
  });
});
