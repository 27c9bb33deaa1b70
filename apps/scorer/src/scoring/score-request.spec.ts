import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_FEATURE_REPO_PATH, loadFeatureRepo, parseFeatureRepo } from '@mmctr/feature-repo';
import { ScoreRequestValidator, parseJsonBody } from './score-request';

const demo = loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH);
const DEMO_DEFAULTS = { device: '', placement: '', country: '' };

describe('ScoreRequestValidator (demo repository: the request format as before)', () => {
  const v = new ScoreRequestValidator(demo, 3);

  it('accepts a minimal and a full request', () => {
    expect(v.validate({ user_id: 'u', candidates: [{ item_id: 'a' }] })).toEqual({
      ok: true,
      value: { user_id: 'u', context: DEMO_DEFAULTS, candidates: [{ item_id: 'a' }] },
    });
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

  it('takes request attributes at the top level too, filling the defaults of those left out', () => {
    const r = v.validate({
      user_id: 'u',
      device: 'ios',
      context: { country: 'DE' },
      candidates: [{ item_id: 'a' }],
    });
    expect(r).toEqual({
      ok: true,
      value: {
        user_id: 'u',
        context: { device: 'ios', placement: '', country: 'DE' },
        candidates: [{ item_id: 'a' }],
      },
    });
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
    [{ user_id: 'u', candidates: [{ item_id: 'a', position: -1 }] }, /position must be >= 0/],
    [
      { user_id: 'u', context: { device: 7 }, candidates: [{ item_id: 'a' }] },
      /^\/context\/device must be string: attribute 'device' expects string, got number 7$/,
    ],
    [
      { user_id: 'u', placement: ['feed'], candidates: [{ item_id: 'a' }] },
      /^\/placement must be string: attribute 'placement' expects string, got array$/,
    ],
    [
      { user_id: 'u', candidates: [{ item_id: 'a' }, { item_id: 'b', position: 'x' }] },
      /^\/candidates\/1\/position must be integer: attribute 'position' expects int, got string "x"$/,
    ],
    [
      { user_id: 'u', device: 'ios', context: { device: 'android' }, candidates: [{ item_id: 'a' }] },
      /^attribute 'device' is given both at the top level and under context$/,
    ],
    [
      { user_id: 'u', context: { os: 'x' }, candidates: [{ item_id: 'a' }] },
      /context has unknown property 'os'/,
    ],
    [{ user_id: 'u', os: 'x', candidates: [{ item_id: 'a' }] }, /body has unknown property 'os'/],
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
    expect(v.validate(body)).toEqual({ ok: true, value: { ...body, context: DEMO_DEFAULTS } });
  });
});

const adsDoc = JSON.parse(
  readFileSync(join(__dirname, '..', '..', '..', '..', 'feature-repos', 'ad-platform', 'repo.json'), 'utf8'),
) as { context: { attributes: Record<string, unknown>[] }; unknown_attributes: string };

/** The ad platform's repository with `network` required and `slot` required per candidate (a test copy). */
function adsWithRequired(): ReturnType<typeof parseFeatureRepo> {
  const doc = structuredClone(adsDoc);
  for (const a of doc.context.attributes) {
    if (a.name !== 'network' && a.name !== 'slot') continue;
    a.required = true;
    delete a.default;
  }
  return parseFeatureRepo(doc);
}

describe('ScoreRequestValidator (ad platform repository)', () => {
  const ads = parseFeatureRepo(adsDoc);
  const v = new ScoreRequestValidator(ads, 10);
  const one = [{ item_id: 'ad-1' }];

  it('resolves its request attributes with their defaults and keeps unknown attributes out (policy keep)', () => {
    const r = v.validate({
      user_id: 'u',
      app_bundle: 'com.x',
      context: { floor_price: 1.5, carrier: 'x' },
      candidates: [{ item_id: 'ad-1', slot: 2, creative: 'c' }],
      campaign: 'ignored',
    });
    expect(r).toEqual({
      ok: true,
      value: {
        user_id: 'u',
        context: { app_bundle: 'com.x', os_version: '', network: 'unknown', floor_price: 1.5 },
        candidates: [{ item_id: 'ad-1', slot: 2, creative: 'c' }],
      },
    });
  });

  it.each([
    [
      { floor_price: 'high' },
      /^\/floor_price must be number: attribute 'floor_price' expects float, got string "high"$/,
    ],
    [
      { context: { network: 5 } },
      /^\/context\/network must be string: attribute 'network' expects string, got number 5$/,
    ],
    [
      { candidates: [{ item_id: 'ad-1', slot: 2 ** 60 }] },
      /^\/candidates\/0\/slot must be <= 9007199254740991: attribute 'slot' expects int, got number 1152921504606847000$/,
    ],
  ])('names the attribute and its type: %j', (extra, message) => {
    const r = v.validate({ user_id: 'u', candidates: one, ...extra });
    expect(!r.ok && r.message).toMatch(message);
  });

  it('refuses a request without a required request or candidate attribute, naming it', () => {
    const strict = new ScoreRequestValidator(adsWithRequired(), 10);
    const slots = [{ item_id: 'ad-1', slot: 0 }];
    expect(strict.validate({ user_id: 'u', candidates: slots })).toEqual({
      ok: false,
      message: "attribute 'network' is required (at the top level or under context)",
    });
    expect(strict.validate({ user_id: 'u', network: 'wifi', candidates: slots }).ok).toBe(true);
    expect(strict.validate({ user_id: 'u', context: { network: 'wifi' }, candidates: slots }).ok).toBe(true);
    expect(strict.validate({ user_id: 'u', network: 'wifi', candidates: one })).toEqual({
      ok: false,
      message: "/candidates/0 must have required property 'slot'",
    });
  });

  it("checks the bounds an attribute declares, the stricter one where the score log's contract has one too", () => {
    const doc = structuredClone(adsDoc);
    const attr = (name: string) => doc.context.attributes.find((a) => a.name === name)!;
    Object.assign(attr('floor_price'), { min: 0 });
    Object.assign(attr('app_bundle'), { max_length: 5 });
    const bounded = new ScoreRequestValidator(parseFeatureRepo(doc), 10);
    expect(bounded.validate({ user_id: 'u', floor_price: -1, candidates: one })).toEqual({
      ok: false,
      message: '/floor_price must be >= 0',
    });
    expect(bounded.validate({ user_id: 'u', app_bundle: 'com.x.y', candidates: one })).toEqual({
      ok: false,
      message: '/app_bundle must NOT have more than 5 characters',
    });
    const strictDemo = JSON.parse(
      readFileSync(join(DEFAULT_FEATURE_REPO_PATH, 'repo.json'), 'utf8'),
    ) as typeof adsDoc;
    const country = strictDemo.context.attributes.find((a) => a.name === 'country')!;
    Object.assign(country, { max_length: 2 }); // stricter than the score log contract's 8
    const demoV = new ScoreRequestValidator(parseFeatureRepo(strictDemo), 10);
    expect(demoV.validate({ user_id: 'u', country: 'DEU', candidates: one })).toEqual({
      ok: false,
      message: '/country must NOT have more than 2 characters',
    });
  });

  it('drops unknown attributes under policy drop and refuses them under reject', () => {
    const body = () => ({
      user_id: 'u',
      carrier: 'x',
      context: { os: 'y' },
      candidates: [{ item_id: 'a', z: 1 }],
    });
    const drop = new ScoreRequestValidator(parseFeatureRepo({ ...adsDoc, unknown_attributes: 'drop' }), 10);
    const dropped = drop.validate(body());
    expect(dropped.ok && dropped.value.candidates).toEqual([{ item_id: 'a' }]);
    expect(dropped.ok && Object.keys(dropped.value.context ?? {})).not.toContain('os');
    const reject = new ScoreRequestValidator(
      parseFeatureRepo({ ...adsDoc, unknown_attributes: 'reject' }),
      10,
    );
    expect(reject.validate(body())).toEqual({ ok: false, message: "body has unknown property 'carrier'" });
  });

  it('publishes the repository attributes in its schema: request ones at the top level and under context', () => {
    const props = v.schema.properties as Record<string, { properties?: Record<string, unknown> }>;
    expect(props.network).toMatchObject({ type: 'string', default: 'unknown' });
    expect(Object.keys(props.context!.properties!)).toEqual([
      'app_bundle',
      'os_version',
      'network',
      'floor_price',
    ]);
    const candidates = props.candidates as unknown as { items: { properties: Record<string, unknown> } };
    expect(candidates.items.properties.slot).toMatchObject({ type: 'integer' });
  });
});

describe('parseJsonBody', () => {
  const v = new ScoreRequestValidator(demo, 3);
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

  it.each([
    ['{"user_id":"u","candidates":[{"item_id":"a\\uD800"}]}', '/candidates/0/item_id'],
    ['{"user_id":"u","candidates":[{"item_id":"a\\udc00"}]}', '/candidates/0/item_id'],
  ])('a parsed body with a lone surrogate escape %s is still refused, naming %s', (text, field) => {
    const parsed = parseJsonBody(Buffer.from(text));
    expect(parsed.ok && v.validate(parsed.value)).toEqual({
      ok: false,
      message: `${field} is not well-formed Unicode (lone surrogate)`,
    });
  });

  it('a parsed body with an escaped surrogate pair or an escaped backslash before "ud800" is accepted', () => {
    for (const text of [
      '{"user_id":"u","candidates":[{"item_id":"\\ud83d\\ude00"}]}',
      '{"user_id":"u","candidates":[{"item_id":"\\\\ud800"}]}',
    ]) {
      const parsed = parseJsonBody(Buffer.from(text));
      expect(parsed.ok && v.validate(parsed.value).ok).toBe(true);
    }
  });

  it('reports JSON syntax errors', () => {
    const r = parseJsonBody(Buffer.from('{"user_id":'));
    expect(!r.ok && r.message).toMatch(/^body is not JSON/);
  });
});
