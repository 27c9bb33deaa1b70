import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  decode,
  validate,
  BROKER_MAX_MESSAGE_BYTES,
  DLQ_OVERHEAD_BYTES,
  MAX_MESSAGE_BYTES,
  MAX_REASON_CHARS,
} from './validators';
import { escapeLoneSurrogates } from './well-formed';
import { DEMO_IMPRESSION, DEMO_ITEM } from '../../../test/support/demo-records';

const event = DEMO_IMPRESSION;

describe('contracts', () => {
  it('accepts a valid impression and item', () => {
    expect(validate('event', event)).toEqual({ ok: true, value: event });
    expect(validate('item', DEMO_ITEM).ok).toBe(true);
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

    const aggregates = {
      as_of_ms: 1_767_225_600_000,
      user: { 'u_clicks@7d': 3 },
      candidates: { 'item_ctr@1h': [0.05] },
    };
    expect(validate('scoreLog', { ...record, aggregates }).ok).toBe(true);
    const text = validate('scoreLog', {
      ...record,
      aggregates: { ...aggregates, candidates: { 'item_ctr@1h': ['x'] } },
    });
    expect(!text.ok && text.reason).toMatch(/aggregates\/candidates\/item_ctr@1h\/0 must be number/);
    const noTime = validate('scoreLog', { ...record, aggregates: { user: {}, candidates: {} } });
    expect(!noTime.ok && noTime.reason).toMatch(/aggregates must have required property 'as_of_ms'/);
  });

  it('decodes bytes and reports bad JSON, empty and oversized messages', () => {
    expect(decode('event', Buffer.from(JSON.stringify(event))).ok).toBe(true);
    const bad = decode('event', Buffer.from('{"a":'));
    expect(!bad.ok && bad.reason).toMatch(/^bad JSON/);
    expect(decode('event', Buffer.alloc(0))).toEqual({ ok: false, reason: 'empty message' });
    const big = decode('event', Buffer.alloc(MAX_MESSAGE_BYTES + 1, 32));
    expect(!big.ok && big.reason).toMatch(/^oversized/);
  });

  it.each([
    ['user_id', { ...event, user_id: '\ud800' }, /^schema: \/user_id is not well-formed Unicode/],
    ['a low half alone', { ...event, item_id: 'a\udc00b' }, /^schema: \/item_id is not well-formed/],
    ['nested context', { ...event, context: { device: 'x\udbff' } }, /^schema: \/context\/device is not/],
    ['a property name', { ...event, ['k\ud800']: 1 }, /^schema: property name "k\\ud800" in \(root\)/],
  ])('rejects a lone surrogate (%s), naming where it is', (_what, bad, reason) => {
    const r = validate('event', bad);
    expect(!r.ok && r.reason).toMatch(reason);
  });

  it('rejects lone surrogates in items, tags and score log arrays', () => {
    const item = { schema_version: 1, item_id: 'i1', ts_ms: 1_767_225_600_000, title: '\ud800' };
    expect(validate('item', item)).toEqual({
      ok: false,
      reason: 'schema: /title is not well-formed Unicode (lone surrogate)',
    });
    const tagged = validate('item', { ...item, title: 't', tags: ['ok', 'b\udfff'] });
    expect(!tagged.ok && tagged.reason).toMatch(/\/tags\/1 is not well-formed/);
  });

  it('accepts well-formed astral characters (emoji) and NUL', () => {
    expect(validate('event', { ...event, user_id: 'u😀\u0000', context: { country: '🇩🇪' } }).ok).toBe(true);
  });

  it('rejects a "\\ud800" JSON escape in otherwise valid bytes', () => {
    const raw = Buffer.from(JSON.stringify(event).replace('"u1"', '"\\ud800"'));
    expect(decode('event', raw)).toEqual({
      ok: false,
      reason: 'schema: /user_id is not well-formed Unicode (lone surrogate)',
    });
  });

  it.each([
    ['a stray continuation byte', [0x80], 0],
    ['a truncated sequence', [0xc3], 0],
    ['an overlong NUL', [0xc0, 0x80], 0],
    ['an encoded surrogate', [0xed, 0xa0, 0x80], 0],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 0],
    ['0xff', [0xff], 0],
  ])('dead-letters invalid UTF-8 (%s) with its offset instead of replacing it', (_what, bytes, at) => {
    const json = JSON.stringify(event);
    const cut = json.indexOf('u1') + 1;
    const raw = Buffer.concat([
      Buffer.from(json.slice(0, cut)),
      Buffer.from(bytes),
      Buffer.from(json.slice(cut)),
    ]);
    expect(decode('event', raw)).toEqual({ ok: false, reason: `invalid UTF-8 at byte ${cut + at}` });
  });

  it('keeps a byte order mark (no silent stripping): the message is not JSON', () => {
    const raw = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(event))]);
    const r = decode('event', raw);
    expect(!r.ok && r.reason).toMatch(/^bad JSON/);
  });

  it('caps the length of a rejection reason', () => {
    const r = decode('event', Buffer.from(`{"${'k'.repeat(5000)}":1}`));
    expect(!r.ok && r.reason.length).toBeLessThanOrEqual(MAX_REASON_CHARS);
  });

  it("leaves room under the broker's message.max.bytes for a dead-lettered copy", () => {
    const props = readFileSync(join(__dirname, '../../../deploy/local/kafka/server.properties.tmpl'), 'utf8');
    const broker = Number(/^message\.max\.bytes=(\d+)$/m.exec(props)?.[1]);
    expect(broker).toBe(BROKER_MAX_MESSAGE_BYTES);
    expect(MAX_MESSAGE_BYTES + DLQ_OVERHEAD_BYTES).toBeLessThanOrEqual(BROKER_MAX_MESSAGE_BYTES);
    // The four DLQ headers at their longest (reason, topic name up to 249 chars, partition, offset).
    const headers = MAX_REASON_CHARS * 3 + 249 + 11 + 20 + 4 * 32;
    expect(headers).toBeLessThan(DLQ_OVERHEAD_BYTES);
  });
});

describe('decode reasons', () => {
  it('are well-formed even when V8 quotes half a surrogate pair of the input', () => {
    const raw = Buffer.from('{"a":"😀😀"#}');
    const r = decode('event', raw);
    expect(!r.ok && r.reason).toMatch(/^bad JSON/);
    const reason = !r.ok ? r.reason : '';
    expect(Buffer.from(reason).toString()).toBe(reason);
  });

  it('escape lone surrogates as text and never end in half a pair when clipped', () => {
    expect(escapeLoneSurrogates('a\ud800b\udc00 😀')).toBe('a\\ud800b\\udc00 😀');
    const r = decode('event', Buffer.from(`{"${'😀'.repeat(600)}":1}`));
    const reason = !r.ok ? r.reason : '';
    expect(reason.length).toBeLessThanOrEqual(MAX_REASON_CHARS);
    expect(Buffer.from(reason).toString()).toBe(reason);
  });
});
