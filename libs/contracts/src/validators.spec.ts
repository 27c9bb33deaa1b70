import { decode, validate, MAX_MESSAGE_BYTES } from './validators';

const event = {
  schema_version: 1,
  event_id: 'e-1',
  type: 'impression',
  ts_ms: 1_767_225_600_000,
  user_id: 'u1',
  item_id: 'i1',
  request_id: 'r1',
  position: 3,
  context: { device: 'mobile', placement: 'feed' },
};

describe('contracts', () => {
  it('accepts a valid impression and item', () => {
    expect(validate('event', event)).toEqual({ ok: true, value: event });
    const item = { schema_version: 1, item_id: 'i1', ts_ms: 1_767_225_600_000, title: 't', tags: ['a'] };
    expect(validate('item', item).ok).toBe(true);
  });

  it.each([
    [{ ...event, type: 'view' }, /type must be equal to one of the allowed values/],
    [{ ...event, ts_ms: '1' }, /ts_ms must be integer/],
    [{ ...event, user_id: undefined }, /must have required property 'user_id'/],
    [{ ...event, extra: 1 }, /must NOT have additional properties 'extra'/],
    [{ ...event, schema_version: 2 }, /schema_version must be equal to constant/],
    [{ ...event, event_id: 'has space' }, /event_id must match pattern/],
  ])('rejects %o with a reason', (bad, reason) => {
    const r = validate('event', bad);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(reason);
  });

  it('accepts score log records with and without history_ts_ms (optional: older producers)', () => {
    const record = {
      schema_version: 1,
      request_id: 'r1',
      ts_ms: 1_767_225_600_000,
      user_id: 'u1',
      model_version: 'v1',
      feature_spec_version: 'fs-2',
      history_item_ids: ['h1', 'h2'],
      item_ids: ['i1'],
      positions: [0],
      ctrs: [0.1],
      degraded: false,
    };
    expect(validate('scoreLog', record).ok).toBe(true);
    expect(validate('scoreLog', { ...record, history_ts_ms: [1_767_225_500_000, 0] }).ok).toBe(true);
    const negative = validate('scoreLog', { ...record, history_ts_ms: [-1] });
    expect(!negative.ok && negative.reason).toMatch(/history_ts_ms\/0 must be >= 0/);
    const fractional = validate('scoreLog', { ...record, history_ts_ms: [1.5] });
    expect(!fractional.ok && fractional.reason).toMatch(/history_ts_ms\/0 must be integer/);
  });

  it('decodes bytes and reports bad JSON, empty and oversized messages', () => {
    expect(decode('event', Buffer.from(JSON.stringify(event))).ok).toBe(true);
    const bad = decode('event', Buffer.from('{"a":'));
    expect(!bad.ok && bad.reason).toMatch(/^bad JSON/);
    expect(decode('event', Buffer.alloc(0))).toEqual({ ok: false, reason: 'empty message' });
    const big = decode('event', Buffer.alloc(MAX_MESSAGE_BYTES + 1, 32));
    expect(!big.ok && big.reason).toMatch(/^oversized/);
  });
});
