import type { ScoreLogRecord } from '@mmctr/contracts';
import { packScoreLog, scoreLogValue, type PackedScoreLog } from './score-log-codec';

// Counts encodes; the real encoder does the work.
jest.mock('./score-log-codec', () => {
  const actual = jest.requireActual<typeof import('./score-log-codec')>('./score-log-codec');
  return { ...actual, scoreLogValue: jest.fn(actual.scoreLogValue) };
});
import {
  ScoreLogSender,
  serveScoreLog,
  type ScoreLogFromThread,
  type ScoreLogResult,
  type ScoreLogToThread,
} from './score-log-sender';
import { testScoreLogRecord } from '../../test/support/score-log-record';

const record = (i: number): ScoreLogRecord => testScoreLogRecord(i, { a: 0.1, b: 0.2 });

const packed = (i: number): PackedScoreLog => packScoreLog(record(i));

describe('ScoreLogSender', () => {
  let sent: string[][];
  let messages: { key: string; value: string }[];
  let fail: boolean;
  let counts: Partial<Record<ScoreLogResult, number>>;
  let warnings: string[];
  let errors: Record<string, unknown>[];
  const sender = (maxQueue = 100, batchRecords = 2, maxBatchBytes = 1_000_000) =>
    new ScoreLogSender(
      {
        send: async (batch) => {
          if (fail) throw new Error('broker away');
          messages.push(...batch);
          sent.push(batch.map((m) => (JSON.parse(m.value) as ScoreLogRecord).request_id));
        },
      },
      { maxQueue, batchRecords, maxBatchBytes },
      {
        count: (r, n) => (counts[r] = (counts[r] ?? 0) + n),
        warn: (_o, msg) => warnings.push(msg),
        error: (obj, msg) => errors.push({ ...obj, msg }),
      },
    );

  /** Bytes of record i on the wire (value + key). */
  const size = (i: number) => Buffer.byteLength(JSON.stringify(record(i))) + Buffer.byteLength(`u${i}`);
  /** A byte cap with room for two records a chunk, not three (they differ by a byte or so). */
  const twoPerChunk = () => sender(100, 10, size(0) + size(1) + Math.floor(size(2) / 2));

  beforeEach(() => {
    sent = [];
    messages = [];
    fail = false;
    counts = {};
    warnings = [];
    errors = [];
  });

  it.each([
    ['batchRecords (2)', () => sender()],
    ['maxBatchBytes (room for two records)', () => twoPerChunk()],
  ])('sends the queue in chunks cut at %s, keyed records in order', async (_cut, make) => {
    const s = make();
    for (let i = 0; i < 5; i++) s.push(packed(i));
    await s.flush();
    expect(sent).toEqual([['r0', 'r1'], ['r2', 'r3'], ['r4']]);
    expect(counts.produced).toBe(5);
    expect(s.queued).toBe(0);
  });

  it('drops and counts records beyond the bound', () => {
    const s = sender(2);
    for (let i = 0; i < 3; i++) s.push(packed(i));
    expect(s.queued).toBe(2);
    expect(counts.dropped).toBe(1);
  });

  it('keeps a failed chunk at the head of the queue for the next flush', async () => {
    const s = sender();
    for (let i = 0; i < 3; i++) s.push(packed(i));
    fail = true;
    await s.flush();
    expect(s.queued).toBe(3);
    expect(warnings).toEqual(['score log send failed; will retry']);
    fail = false;
    await s.flush();
    expect(sent.flat()).toEqual(['r0', 'r1', 'r2']);
  });

  it('encodes each record once, across byte-capped chunks and a failed send', async () => {
    const s = twoPerChunk();
    for (let i = 0; i < 5; i++) s.push(packed(i));
    const encode = jest.mocked(scoreLogValue);
    encode.mockClear();
    fail = true;
    await s.flush(); // r0, r1 fail and go back; r2 ended the chunk
    fail = false;
    await s.flush();
    expect(sent).toEqual([['r0', 'r1'], ['r2', 'r3'], ['r4']]);
    expect(encode).toHaveBeenCalledTimes(5);
  });

  it('drops, counts and logs a record too large to ever send, and sends the rest', async () => {
    const big = record(1);
    big.item_ids = Array.from({ length: 400 }, (_, i) => `a-rather-long-item-identifier-${i}`);
    big.positions = big.item_ids.map((_, i) => i);
    big.ctrs = big.item_ids.map(() => 0.5);
    const s = sender(100, 10, 4 * Buffer.byteLength(JSON.stringify(record(0))));
    s.push(packed(0));
    s.push(packScoreLog(big));
    s.push(packed(2));
    await s.flush();
    expect(sent).toEqual([['r0', 'r2']]);
    expect(counts).toEqual({ produced: 2, dropped: 1 });
    expect(warnings).toEqual(['score log record larger than SCORER_SCORE_LOG_MAX_BATCH_BYTES; dropped']);
    expect(s.queued).toBe(0);
  });

  it('drops, counts and logs a record the contract rejects (checked once), and sends the rest', async () => {
    const s = sender(100, 10);
    s.push(packed(0));
    s.push(packScoreLog({ ...record(1), ctrs: [0.1, NaN] }));
    s.push(packScoreLog({ ...record(2), context: { device: 'lone \ud800' } }));
    s.push(packed(3));
    await s.flush();
    expect(sent).toEqual([['r0', 'r3']]);
    expect(counts).toEqual({ produced: 2, invalid: 2 });
    const msg = 'score log record invalid; not produced';
    expect(errors).toEqual([
      { request_id: 'r1', reason: 'schema: /ctrs/1 must be number', msg },
      { request_id: 'r2', reason: expect.stringContaining('schema: /context/device') as unknown, msg },
    ]);
    expect(s.queued).toBe(0);
  });

  it('sends each record as its JSON, keyed by user_id', async () => {
    const s = sender();
    s.push(packed(3));
    await s.flush();
    expect(messages.map((m) => [m.key, JSON.parse(m.value) as unknown])).toEqual([['u3', record(3)]]);
  });
});

describe('serveScoreLog (the thread loop)', () => {
  let sent: string[][];
  let fail: boolean;
  let posted: ScoreLogFromThread[];
  let deliver: (m: ScoreLogToThread) => void;
  let closed: number;
  const serve = (maxQueue = 100) =>
    serveScoreLog(
      {
        on: (_event, listener) => (deliver = listener),
        postMessage: (m) => posted.push(m),
      },
      { maxQueue, batchRecords: 2, maxBatchBytes: 1_000_000, flushMs: 200 },
      {
        send: async (messages) => {
          if (fail) throw new Error('broker away');
          sent.push(messages.map((m) => (JSON.parse(m.value) as ScoreLogRecord).request_id));
        },
      },
      async () => void closed++,
    );
  const records = (...ids: number[]): ScoreLogToThread => ({ records: ids.map(packed) });

  beforeEach(() => {
    jest.useFakeTimers();
    sent = [];
    fail = false;
    posted = [];
    closed = 0;
  });
  afterEach(() => jest.useRealTimers());

  it('sends each hand-over at once and counts once per flush; no timer while idle', async () => {
    serve();
    deliver(records(0, 1, 2, 3, 4));
    await jest.advanceTimersByTimeAsync(0);
    expect(sent).toEqual([['r0', 'r1'], ['r2', 'r3'], ['r4']]);
    expect(posted).toEqual([{ count: 'produced', n: 5 }]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('drops beyond the bound, and retries a failed send after flushMs until it goes through', async () => {
    serve(3);
    fail = true;
    deliver(records(0, 1, 2, 3));
    await jest.advanceTimersByTimeAsync(0);
    expect(posted).toEqual([
      { log: 'warn', obj: { err: 'broker away', records: 2 }, msg: 'score log send failed; will retry' },
      { count: 'dropped', n: 1 },
    ]);
    await jest.advanceTimersByTimeAsync(200);
    expect(sent).toEqual([]);
    fail = false;
    await jest.advanceTimersByTimeAsync(200);
    expect(sent).toEqual([['r0', 'r1'], ['r2']]);
    expect(posted.at(-1)).toEqual({ count: 'produced', n: 3 });
    expect(jest.getTimerCount()).toBe(0);
  });

  it('reports an invalid record as an error log line and an invalid count', async () => {
    serve();
    deliver({ records: [packed(0), packScoreLog({ ...record(1), ctrs: [Infinity] })] });
    await jest.advanceTimersByTimeAsync(0);
    expect(sent).toEqual([['r0']]);
    expect(posted).toEqual([
      {
        log: 'error',
        obj: { request_id: 'r1', reason: 'schema: /ctrs/0 must be number' },
        msg: 'score log record invalid; not produced',
      },
      { count: 'invalid', n: 1 },
      { count: 'produced', n: 1 },
    ]);
  });

  it('on close sends what it holds, then closes the producer and says so', async () => {
    serve();
    fail = true;
    deliver(records(0));
    await jest.advanceTimersByTimeAsync(0);
    fail = false;
    deliver(records(1));
    await jest.advanceTimersByTimeAsync(0);
    expect(jest.getTimerCount()).toBe(0); // the pending retry went with the queue
    deliver({ close: true });
    await jest.advanceTimersByTimeAsync(0);
    expect(sent.flat()).toEqual(['r0', 'r1']);
    expect(closed).toBe(1);
    expect(posted.slice(-2)).toEqual([{ count: 'produced', n: 2 }, { closed: true }]);
    expect(jest.getTimerCount()).toBe(0);
  });
});
