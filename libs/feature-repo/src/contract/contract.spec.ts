import { join } from 'node:path';
import { loadFeatureRepo, parseFeatureRepo } from '../load';
import type { FeatureRepo } from '../types';
import { compileEntityContract } from './entity-contract';
import { compileEventContract } from './event-contract';

const ROOT = join(__dirname, '..', '..', '..', '..');
const ads = loadFeatureRepo(join(ROOT, 'feature-repos', 'ad-platform'));

/** The ad-platform repository with another unknown-attribute policy / an edited first entity. */
function variant(
  edit: (doc: Record<string, unknown> & { entities: Record<string, unknown>[] }) => void,
): FeatureRepo {
  const doc = JSON.parse(JSON.stringify(ads)) as Record<string, unknown> & {
    entities: Record<string, unknown>[];
  };
  edit(doc);
  return parseFeatureRepo(doc, 'variant');
}

const impression = {
  schema_version: 1,
  event_id: 'e1',
  type: 'ad_impression',
  ts_ms: 1_767_225_600_000,
  user_id: 'u1',
  ad_id: 'a1',
  auction_id: 'x1',
};
const events = compileEventContract(ads).check;
const reason = (r: ReturnType<typeof events>) => (r.ok ? 'accepted' : r.reason);

describe('compiled event contract (ad-platform)', () => {
  it('fills defaults of the type (and only its attributes) and keeps ints, floats, strings', () => {
    expect(events({ ...impression, slot: 3, floor_price: 1.5 })).toEqual({
      ok: true,
      value: {
        ...impression,
        slot: 3,
        app_bundle: '',
        os_version: '',
        network: 'unknown',
        floor_price: 1.5,
      },
    });
    const click = { ...impression, type: 'ad_click' };
    expect(events(click)).toEqual({ ok: true, value: click });
  });

  it.each([
    [{ slot: 'x' }, `schema: attribute 'slot': expected int, got string "x"`],
    [{ slot: 1.5 }, "schema: attribute 'slot': expected int, got number 1.5"],
    [{ slot: 2 ** 53 }, `schema: attribute 'slot': expected int, got number ${2 ** 53}`],
    [{ floor_price: '1' }, `schema: attribute 'floor_price': expected float, got string "1"`],
    [{ network: 4 }, "schema: attribute 'network': expected string, got number 4"],
    [{ network: null }, "schema: attribute 'network': expected string, got null"],
    [{ auction_id: undefined }, "schema: missing required attribute 'auction_id'"],
    [{ ad_id: undefined }, "schema: missing required field 'ad_id'"],
    [{ ad_id: '' }, "schema: field 'ad_id': shorter than 1 characters"],
    [{ ts_ms: 1.5 }, "schema: field 'ts_ms': expected int, got number 1.5"],
    [{ ts_ms: 1 }, "schema: field 'ts_ms': 1 is below the minimum 946684800000"],
    [
      { type: 'view' },
      'schema: unknown event type "view" (expected one of: ad_impression, ad_click, install, purchase)',
    ],
    [{ type: undefined }, "schema: missing required field 'type'"],
    [{ schema_version: 2 }, "schema: field 'schema_version': expected 1, got number 2"],
    [{ event_id: 'a b' }, `schema: field 'event_id': "a b" does not match ^[A-Za-z0-9_.:-]+$`],
    [{ context: [] }, "schema: field 'context': expected a JSON object, got array"],
    [
      { network: 'wifi', context: { network: '4g' } },
      "schema: attribute 'network' is given both at the top level and under context",
    ],
  ])('rejects %o naming the field and the expected type', (patch, why) => {
    expect(reason(events({ ...impression, ...patch }))).toBe(why);
  });

  it('rejects a message that is not an object', () => {
    expect(reason(events([1]))).toBe('schema: message: expected a JSON object, got array');
    expect(reason(events('x'))).toBe(`schema: message: expected a JSON object, got string "x"`);
  });

  it('reads request-scope context attributes under `context`, candidate-scope ones only at the top level', () => {
    const r = events({ ...impression, slot: 2, context: { network: 'wifi', floor_price: 0.25 } });
    expect(r.ok && [r.value.network, r.value.floor_price, r.value.slot]).toEqual(['wifi', 0.25, 2]);
    // slot is a candidate attribute: under context it is unknown (kept, not read).
    const nested = events({ ...impression, context: { slot: 2 } });
    expect(nested.ok && nested.value.slot).toBe(0);
    // An attribute the event type does not declare is unknown under context too.
    const other = compileEventContract(variant((d) => (d.unknown_attributes = 'reject'))).check;
    expect(reason(other({ ...impression, type: 'ad_click', context: { network: 'wifi' } }))).toBe(
      "schema: unknown attribute 'network' under context (unknown_attributes: reject)",
    );
  });

  it('applies the unknown-attribute policy: keep, drop, reject', () => {
    const msg = { ...impression, sdk: 'v2', purchase_id: 7 };
    const kept = events(msg);
    expect(kept.ok && [kept.value.sdk, kept.value.purchase_id]).toEqual(['v2', 7]);
    const drop = compileEventContract(variant((d) => (d.unknown_attributes = 'drop'))).check(msg);
    expect(drop.ok && Object.keys(drop.value)).not.toContain('sdk');
    const reject = compileEventContract(variant((d) => (d.unknown_attributes = 'reject'))).check(msg);
    expect(reason(reject)).toBe("schema: unknown attribute 'sdk' (unknown_attributes: reject)");
    // A key of an entity the type does not name is unknown as well; reserved names are not.
    expect(
      reason(
        compileEventContract(variant((d) => (d.unknown_attributes = 'reject'))).check({
          ...impression,
          advertiser_id: 'x',
        }),
      ),
    ).toBe("schema: unknown attribute 'advertiser_id' (unknown_attributes: reject)");
  });

  it('never lets a kept property reach the prototype or shadow a field', () => {
    const r = events(JSON.parse(`{"__proto__": {"x": 1}, ${JSON.stringify(impression).slice(1)}`));
    expect(r.ok && Object.getPrototypeOf(r.value)).toBe(Object.prototype);
    const c = events({ ...impression, context: { user_id: 'other' } });
    expect(c.ok && c.value.user_id).toBe('u1');
  });
});

describe('compiled entity contract (ad-platform)', () => {
  const profiles = compileEntityContract(ads, 'user').check;
  const profile = { schema_version: 1, user_id: 'u1', ts_ms: 1_767_225_600_000 };

  it('fills every attribute type with its default', () => {
    expect(profiles(profile)).toEqual({
      ok: true,
      value: {
        ...profile,
        age_band: 'unknown',
        gender: '',
        interests: [],
        account_age_days: 0,
        lifetime_spend: 0,
        is_premium: false,
      },
    });
  });

  it.each([
    [{ is_premium: 1 }, "schema: attribute 'is_premium': expected bool, got number 1"],
    [{ interests: 'games' }, `schema: attribute 'interests': expected string_list, got string "games"`],
    [{ interests: ['a', 2] }, "schema: attribute 'interests': element 1: expected string, got number 2"],
    [
      { interests: Array.from({ length: 21 }, (_, i) => `i${i}`) },
      "schema: attribute 'interests': more than 20 elements",
    ],
    [{ lifetime_spend: 'lots' }, `schema: attribute 'lifetime_spend': expected float, got string "lots"`],
    [{ user_id: 7 }, "schema: field 'user_id': expected string, got number 7"],
  ])('rejects %o', (patch, why) => {
    const r = profiles({ ...profile, ...patch });
    expect(r.ok ? 'accepted' : r.reason).toBe(why);
  });

  it('accepts a string_list of exactly max_length and a required attribute when present', () => {
    expect(profiles({ ...profile, interests: Array.from({ length: 20 }, (_, i) => `i${i}`) }).ok).toBe(true);
    const advertisers = compileEntityContract(ads, 'advertiser').check;
    const adv = { schema_version: 1, advertiser_id: 'a', ts_ms: 1_767_225_600_000 };
    expect(advertisers(adv)).toEqual({ ok: false, reason: "schema: missing required attribute 'industry'" });
    expect(advertisers({ ...adv, industry: 'retail' })).toEqual({
      ok: true,
      value: { ...adv, industry: 'retail', quality_score: 0.5 },
    });
  });

  it('names an unknown entity, and refuses a bound its type cannot have', () => {
    expect(() => compileEntityContract(ads, 'shop')).toThrow(
      "unknown entity 'shop' (entities: user, advertiser, campaign, ad)",
    );
    const bad = variant((d) => {
      (d.entities[0]!.attributes as Record<string, unknown>[])[0]!.min = 1;
    });
    expect(() => compileEntityContract(bad, 'user')).toThrow(
      'entities.user.attributes.age_band: min does not apply to a string attribute',
    );
  });
});
