import { validate, type ScoreLogRecord } from '@mmctr/contracts';
import { decodeScoreLog } from '../score-log-sink/score-log-row';
import { checkScoreLogValue, packScoreLog, scoreLogValue } from './score-log-codec';

// Deterministic CTRs as the scorer serves them: float32 model outputs widened to float64.
function ctrs(n: number, seed: number): number[] {
  const f = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    f[i] = 1 / (1 + Math.exp(-((s / 2 ** 31) * 16 - 10)));
  }
  return Array.from(f);
}

const record = (n = 500, seed = 1): ScoreLogRecord => ({
  schema_version: 1,
  request_id: `req-${seed}`,
  ts_ms: 1_764_000_000_000 + seed,
  user_id: `user-${seed}`,
  model_version: 'qin-1',
  feature_spec_version: 'v3',
  context: { device: 'android', placement: 'feed', country: 'DE' },
  history_item_ids: Array.from({ length: 64 }, (_, i) => `h-${i}`),
  item_ids: Array.from({ length: n }, (_, i) => `item-${i}-"quoted"\\é\u2028\u0000😀\n`),
  positions: Array.from({ length: n }, (_, i) => i % 32),
  ctrs: ctrs(n, seed),
  degraded: false,
});

const pack = packScoreLog;
const decoded = (r: ScoreLogRecord) => JSON.parse(scoreLogValue(pack(r))) as ScoreLogRecord;
/** The thread's verdict on a record packed on the request loop. */
const check = (r: ScoreLogRecord) => checkScoreLogValue(scoreLogValue(pack(r)));

describe('packScoreLog / scoreLogValue / checkScoreLogValue', () => {
  it('encodes the same JSON object as JSON.stringify, CTRs bit for bit', () => {
    const edge = [
      0.02,
      0,
      -0,
      1,
      1 - 2 ** -53,
      5e-324,
      Number.MIN_VALUE,
      1e-300,
      Number.MAX_VALUE,
      0.1,
      1 / 3,
    ];
    const samples: ScoreLogRecord[] = [
      record(),
      record(0, 2),
      { ...record(3, 3), context: undefined, degraded: true, ctrs: edge.slice(0, 3) },
      { ...record(edge.length, 4), ctrs: edge },
      { ...record(20, 5), shadow_model_version: 'qin-2', shadow_ctrs: ctrs(20, 99) },
      {
        ...record(2, 6),
        context: { network: '5g', floor_price: 0.25, is_premium: false },
        candidate_context: [{ slot: 3 }, { slot: 0 }],
        sequences: { click_history: { keys: ['ad-1'], ts_ms: [1_700_000_000_000] } },
      },
    ];
    for (const r of samples) {
      const out = decoded(r);
      expect(out).toEqual(JSON.parse(JSON.stringify(r)));
      expect(out.ctrs.every((c, i) => c === r.ctrs[i])).toBe(true);
      expect(out.shadow_ctrs?.every((c, i) => c === r.shadow_ctrs![i])).toBe(
        r.shadow_ctrs ? true : undefined,
      );
    }
  });

  it("is what the sink decodes (the contract, the sink's size limit)", () => {
    const r = { ...record(), shadow_model_version: 'qin-2', shadow_ctrs: ctrs(500, 7) };
    const d = decodeScoreLog(Buffer.from(scoreLogValue(pack(r))), 4 * 1024 * 1024);
    expect(d).toEqual({ ok: true, value: JSON.parse(JSON.stringify(r)) as unknown });
  });

  it('keys by user_id and survives the hand-off to the thread (structured clone)', () => {
    const p = pack(record());
    expect(p.key).toBe('user-1');
    expect(scoreLogValue(structuredClone(p))).toBe(scoreLogValue(p));
  });

  it('takes a snapshot: the caller may change the record afterwards', () => {
    const r = record(5);
    const p = pack(r);
    const before = scoreLogValue(p);
    r.ctrs[0] = 0.5;
    r.item_ids.push('late');
    r.shadow_ctrs = [0.1];
    expect(scoreLogValue(p)).toBe(before);
  });

  it('rejects exactly what the contract rejects of the value on the wire, with its reason and request_id', () => {
    const r = record(4);
    const invalid: unknown[] = [
      { ...r, user_id: undefined },
      { ...r, user_id: '' },
      { ...r, schema_version: 2 },
      { ...r, extra: 1 },
      { ...r, ts_ms: 1.5 },
      { ...r, ctrs: [0.1, NaN, 0.3, 0.4] },
      { ...r, ctrs: [0.1, Infinity, 0.3, 0.4] },
      { ...r, ctrs: [0.1, , 0.3, 0.4] }, // eslint-disable-line no-sparse-arrays
      { ...r, positions: [0, -1, 2, 3] },
      { ...r, positions: [0, 1.5, 2, 3] },
      { ...r, item_ids: ['a', 2, 'c', 'd'] },
      { ...r, history_item_ids: [null] },
      { ...r, item_ids: ['a', 'lone \ud800 surrogate', 'c', 'd'] },
      { ...r, context: { device: 'android', '\udc00': 'key with a lone surrogate' } },
      { ...r, context: { device: 'android', os: { v: 1 } } },
      { ...r, context: { device: 7 } },
      { ...r, candidate_context: [{ slot: [1] }] },
      { ...r, sequences: { clicks: { keys: ['a'] } } },
      { ...r, sequences: { clicks: { keys: ['a'], ts_ms: [-1] } } },
      { ...r, degraded: 'no' },
      { ...r, shadow_ctrs: [0.1, NaN] },
      { ...r, shadow_ctrs: [0.1, 'x'] },
      { ...r, shadow_model_version: 7 },
    ];
    for (const bad of invalid) {
      // As the sink decodes it: a non-finite CTR is printed as null, and rejected as such.
      const expected = validate('scoreLog', JSON.parse(JSON.stringify(bad)));
      expect(expected.ok).toBe(false);
      expect(check(bad as ScoreLogRecord)).toEqual({ ...expected, request_id: 'req-1' });
    }
    const generic = {
      ...r,
      context: { network: 'wifi', floor_price: 1.5, premium: true, tags: ['a'] },
      candidate_context: r.item_ids.map((_, i) => ({ slot: i })),
      sequences: { clicks: { keys: ['a', 'b'], ts_ms: [2, 1] }, buys: { keys: [], ts_ms: [] } },
    };
    for (const good of [
      r,
      { ...r, shadow_model_version: 's', shadow_ctrs: [0.5] },
      { ...r, context: {} },
      // The text of an escape, not a surrogate: checked in full, and well-formed.
      { ...r, item_ids: ['\\ud800', 'b', 'c', 'd'] },
      generic,
    ]) {
      expect(validate('scoreLog', good).ok).toBe(true);
      expect(check(good)).toEqual({ ok: true });
    }
  });
});
