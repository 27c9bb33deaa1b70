import type { ScoreLogRecord } from '@mmctr/contracts';
import { decodeScoreLog, toScoreLogRow } from './score-log-row';
import { decodeVector } from '../items/item-online.repository';
import { ScoreLogSinkRepository } from './score-log-sink.repository';

const record: ScoreLogRecord = {
  schema_version: 1,
  request_id: 'r1',
  ts_ms: 1_700_000_123_456,
  user_id: 'u1',
  model_version: 'v1',
  feature_spec_version: 'fs-1',
  context: { device: 'ios' },
  history_item_ids: ['h1'],
  item_ids: ['a', 'b'],
  positions: [0, 1],
  ctrs: [0.1, 0.2],
  degraded: false,
};

describe('score log rows', () => {
  it('maps a record to every score_log column', () => {
    expect(toScoreLogRow(record, 1_700_000_200_000, ['device', 'placement', 'country'])).toEqual({
      request_id: 'r1',
      ts_ms: 1_700_000_123_456,
      event_time: 1_700_000_123,
      user_id: 'u1',
      model_version: 'v1',
      feature_spec_version: 'fs-1',
      shadow_model_version: '',
      device: 'ios',
      placement: '',
      country: '',
      history_item_ids: ['h1'],
      history_ts_ms: [],
      item_ids: ['a', 'b'],
      positions: [0, 1],
      ctrs: [0.1, 0.2],
      shadow_ctrs: [],
      degraded: 0,
      ingested_at: 1_700_000_200,
      context_json: '{"device":"ios"}',
      candidate_context_json: '',
      sequences_json: '',
      aggregates_json: '',
    });
  });

  it("fills the table's fixed context columns, those of the v1 event contract's context", () => {
    const sink = new ScoreLogSinkRepository(null as never);
    expect(sink.legacyContextColumns).toEqual(['device', 'placement', 'country']);
  });

  it("writes any repository's context, candidate context, sequences and aggregates as JSON text", () => {
    const generic: ScoreLogRecord = {
      ...record,
      context: { network: 'wifi', floor_price: 1.5, is_premium: true },
      candidate_context: [{ slot: 2 }, { slot: 0 }],
      sequences: {
        click_history: { keys: ['ad-1', 'ad-2'], ts_ms: [1_700_000_100_000, 1_700_000_000_000] },
        conversion_history: { keys: [], ts_ms: [] },
      },
      aggregates: {
        as_of_ms: 1_700_000_123_456,
        user: { 'user_clicks@7d': 4 },
        candidates: { 'item_ctr@1h': [0.05, 0.125], 'item_ctr@24h': [0.5, 0] },
      },
    };
    const row = toScoreLogRow(generic, 1_700_000_200_000, ['device', 'network', 'floor_price']);
    expect(JSON.parse(row.context_json)).toEqual(generic.context);
    expect(JSON.parse(row.candidate_context_json)).toEqual(generic.candidate_context);
    expect(JSON.parse(row.sequences_json)).toEqual(generic.sequences);
    expect(JSON.parse(row.aggregates_json)).toEqual(generic.aggregates);
    // A fixed context column holds the attribute of its name; absent ones are ''.
    expect([row.device, row.network, row.floor_price]).toEqual(['', 'wifi', '1.5']);
    expect(decodeScoreLog(Buffer.from(JSON.stringify(generic)), 4096)).toEqual({ ok: true, value: generic });
  });

  it('writes the history click times, [] for records of producers that predate them', () => {
    const withTs = { ...record, history_ts_ms: [1_700_000_100_000] };
    expect(toScoreLogRow(withTs, 1_700_000_200_000).history_ts_ms).toEqual([1_700_000_100_000]);
    expect(decodeScoreLog(Buffer.from(JSON.stringify(withTs)), 1024)).toEqual({ ok: true, value: withTs });
    expect(decodeScoreLog(Buffer.from(JSON.stringify(record)), 1024).ok).toBe(true);
  });

  it('decodes large valid records and rejects oversized, malformed and off-contract ones', () => {
    const big = {
      ...record,
      item_ids: Array(2000).fill('item-1234567890-abcdef'),
      positions: Array(2000).fill(1),
      ctrs: Array(2000).fill(0.123456789),
    };
    const raw = Buffer.from(JSON.stringify(big));
    expect(raw.length).toBeGreaterThan(64 * 1024);
    expect(decodeScoreLog(raw, 1024 * 1024).ok).toBe(true);
    expect(decodeScoreLog(raw, 1024)).toEqual({
      ok: false,
      reason: expect.stringMatching(/oversized/) as unknown,
    });
    expect(decodeScoreLog(Buffer.from('{'), 1024).ok).toBe(false);
    expect(decodeScoreLog(Buffer.from(JSON.stringify({ ...record, extra: 1 })), 1024).ok).toBe(false);
    expect(decodeScoreLog(null, 1024).ok).toBe(false);
  });

  it('refuses invalid UTF-8 with the offset of the first bad byte instead of replacing it', () => {
    const json = Buffer.from(JSON.stringify({ ...record, user_id: 'u-XX' }));
    const at = json.indexOf('XX');
    json[at] = 0xc3; // a lead byte followed by ASCII: not a valid sequence
    expect(decodeScoreLog(json, 1024)).toEqual({ ok: false, reason: `invalid UTF-8 at byte ${at}` });
    const lone = Buffer.concat([Buffer.from('{"request_id":"'), Buffer.from([0xff]), Buffer.from('"}')]);
    expect(decodeScoreLog(lone, 1024)).toEqual({ ok: false, reason: 'invalid UTF-8 at byte 15' });
  });
});

describe('decodeVector', () => {
  it('reads Float32 little-endian bytes and JSON arrays', () => {
    const v = Float32Array.from([1.5, -2, 0.25]);
    expect(Array.from(decodeVector(Buffer.from(v.buffer))!)).toEqual([1.5, -2, 0.25]);
    expect(Array.from(decodeVector(Buffer.from('[1,2]'))!)).toEqual([1, 2]);
    expect(decodeVector(null)).toBeNull();
    expect(decodeVector(Buffer.from([1, 2, 3]))).toBeNull();
  });
});
