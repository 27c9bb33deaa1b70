import type { ScoreLogRecord } from '@mmctr/contracts';
import { ScoreLogSender, type ScoreLogResult } from './score-log-sender';

const record = (i: number): ScoreLogRecord => ({
  schema_version: 1,
  request_id: `r${i}`,
  ts_ms: 1_764_000_000_000 + i,
  user_id: `u${i}`,
  model_version: 'm1',
  feature_spec_version: 's1',
  history_item_ids: [],
  item_ids: ['a', 'b'],
  positions: [0, 1],
  ctrs: [0.1, 0.2],
  degraded: false,
});

describe('ScoreLogSender', () => {
  let sent: string[][];
  let fail: boolean;
  let counts: Partial<Record<ScoreLogResult, number>>;
  let warnings: string[];
  const sender = (maxQueue = 100, batchRecords = 2) =>
    new ScoreLogSender(
      {
        send: async (messages) => {
          if (fail) throw new Error('broker away');
          sent.push(messages.map((m) => (JSON.parse(m.value) as ScoreLogRecord).request_id));
        },
      },
      { maxQueue, batchRecords },
      {
        count: (r, n) => (counts[r] = (counts[r] ?? 0) + n),
        warn: (_o, msg) => warnings.push(msg),
        error: (_o, msg) => warnings.push(msg),
      },
    );

  beforeEach(() => {
    sent = [];
    fail = false;
    counts = {};
    warnings = [];
  });

  it('sends the queue in chunks of batchRecords, keyed records in order', async () => {
    const s = sender();
    for (let i = 0; i < 5; i++) s.push(record(i));
    await s.flush();
    expect(sent).toEqual([['r0', 'r1'], ['r2', 'r3'], ['r4']]);
    expect(counts.produced).toBe(5);
    expect(s.queued).toBe(0);
  });

  it('drops and counts records beyond the bound', () => {
    const s = sender(2);
    for (let i = 0; i < 3; i++) s.push(record(i));
    expect(s.queued).toBe(2);
    expect(counts.dropped).toBe(1);
  });

  it('keeps a failed chunk at the head of the queue for the next flush', async () => {
    const s = sender();
    for (let i = 0; i < 3; i++) s.push(record(i));
    fail = true;
    await s.flush();
    expect(s.queued).toBe(3);
    expect(warnings).toEqual(['score log send failed; will retry']);
    fail = false;
    await s.flush();
    expect(sent.flat()).toEqual(['r0', 'r1', 'r2']);
  });

  it('counts a record that breaks the contract as invalid and sends the others', async () => {
    const s = sender();
    s.push({ ...record(0), user_id: undefined } as unknown as ScoreLogRecord);
    s.push(record(1));
    await s.flush();
    expect(counts.invalid).toBe(1);
    expect(sent.flat()).toEqual(['r1']);
  });
});
