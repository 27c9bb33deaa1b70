import { ScoreRequestValidator, parseJsonBody } from './score-request';

describe('ScoreRequestValidator', () => {
  const v = new ScoreRequestValidator(3);

  it('accepts a minimal and a full request', () => {
    expect(v.validate({ user_id: 'u', candidates: [{ item_id: 'a' }] }).ok).toBe(true);
    const full = {
      request_id: 'r1',
      user_id: 'u',
      context: { device: 'ios', placement: 'feed', country: 'DE' },
      candidates: [
        { item_id: 'a', position: 0 },
        { item_id: 'b', position: 65535 },
      ],
    };
    expect(v.validate(full)).toEqual({ ok: true, value: full });
  });

  it.each([
    [null, /body must be object/],
    [
      { user_id: 'u', candidates: [{ item_id: 'a' }, { item_id: 'b' }, { item_id: 'c' }, { item_id: 'd' }] },
      /more than 3 items/,
    ],
    [
      { user_id: 'x'.repeat(129), candidates: [{ item_id: 'a' }] },
      /user_id must NOT have more than 128 characters/,
    ],
    [{ user_id: 'u', context: { country: 'TOOLONGXX' }, candidates: [{ item_id: 'a' }] }, /country/],
    [{ user_id: 'u', candidates: [{ item_id: 'a', position: 70000 }] }, /position must be <= 65535/],
    [{ user_id: 'u', candidates: 'a' }, /candidates must be array/],
  ])('rejects %j', (body, message) => {
    const r = v.validate(body);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(message);
  });

  it.each([
    [{ user_id: '\ud800', candidates: [{ item_id: 'a' }] }, '/user_id'],
    [{ user_id: 'u', request_id: 'r\udc00', candidates: [{ item_id: 'a' }] }, '/request_id'],
    [{ user_id: 'u', candidates: [{ item_id: 'a' }, { item_id: 'b\udbff' }] }, '/candidates/1/item_id'],
    [
      { user_id: 'u', context: { placement: '\udfff' }, candidates: [{ item_id: 'a' }] },
      '/context/placement',
    ],
  ])('rejects a lone surrogate in %j, naming %s', (body, field) => {
    expect(v.validate(body)).toEqual({
      ok: false,
      message: `${field} is not well-formed Unicode (lone surrogate)`,
    });
  });

  it('accepts well-formed astral characters and NUL in ids', () => {
    const body = { user_id: 'u😀\u0000', candidates: [{ item_id: '𝔁' }] };
    expect(v.validate(body)).toEqual({ ok: true, value: body });
  });
});

describe('parseJsonBody', () => {
  it('parses UTF-8 JSON, keeping every character', () => {
    const body = { user_id: 'ü😀\u0000', candidates: [{ item_id: 'a' }] };
    expect(parseJsonBody(Buffer.from(JSON.stringify(body)))).toEqual({ ok: true, value: body });
  });

  it('refuses invalid UTF-8 instead of replacing it with U+FFFD', () => {
    const raw = Buffer.concat([Buffer.from('{"user_id":"a'), Buffer.from([0xff]), Buffer.from('"}')]);
    expect(parseJsonBody(raw)).toEqual({
      ok: false,
      message: 'body is not valid UTF-8: invalid UTF-8 at byte 13',
    });
  });

  it('reports JSON syntax errors', () => {
    const r = parseJsonBody(Buffer.from('{"user_id":'));
    expect(!r.ok && r.message).toMatch(/^body is not JSON/);
  });
});
