import { ScoreRequestValidator } from './score-request';

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
});
