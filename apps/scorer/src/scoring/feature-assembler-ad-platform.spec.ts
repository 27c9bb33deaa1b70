import { LayoutEncoder, type RawRecord, type RawValue } from '@mmctr/features';
import { adPlatform } from '../../../../test/support/feature-repo/ad-platform';
import { expectFeedsEqual } from '../../test/support/expect-feeds';
import { ItemCache } from '../items/item-cache';
import { ServingLayout } from '../layout/serving-layout';
import { InputBuffers } from '../model/onnx-model';
import { FeatureAssembler, type AssemblyInput } from './feature-assembler';

type Row = Record<string, RawValue>;

const repo = adPlatform('ads-1');
const layout = new ServingLayout(repo);

const ads: Row[] = [
  { ad_id: 'ad-1', advertiser_id: 'adv-1', campaign_id: 'c-1', format: 'video', keywords: ['shoes', 'run'] },
  { ad_id: 'ad-2', advertiser_id: 'adv-2', campaign_id: 'c-2', format: 'native', keywords: [] },
  // Its advertiser and campaign are not stored: the joined slots read the repository defaults.
  { ad_id: 'ad-3', advertiser_id: 'adv-gone', campaign_id: 'c-gone', format: 'banner', keywords: ['x'] },
  { ad_id: 'ad-4', advertiser_id: 'adv-1', campaign_id: 'c-2', keywords: ['a', 'b', 'c'] },
];
const advertisers: Record<string, Row> = {
  'adv-1': { industry: 'retail', quality_score: 0.9 },
  // No quality_score stored: the declared default 0.5.
  'adv-2': { industry: 'games' },
};
const campaigns: Record<string, Row> = { 'c-1': { bid_cpm: 4.5 }, 'c-2': { bid_cpm: 1.25 } };

/** The user's stored profile: the attributes it lacks read their declared defaults. */
const requester: Row = { gender: 'f', interests: ['sport', 'music'], lifetime_spend: 120.5 };
const requesterDefaults: Row = { age_band: 'unknown', account_age_days: 0, is_premium: false };

function cacheOf(rows: Row[]): ItemCache {
  const cache = new ItemCache(layout);
  for (const { ad_id, ...attributes } of rows)
    cache.upsertItem({ item_id: ad_id as string, ts_ms: 1, attributes });
  return cache;
}

const lookup = (entity: string, key: string): Row | undefined =>
  entity === 'advertiser' ? advertisers[key] : entity === 'campaign' ? campaigns[key] : undefined;

describe('ServingLayout of the ad-platform repository', () => {
  it('reads the requester profile, the candidate joins and two sequences, each its own list', () => {
    expect(layout.requesterAttributes.map((a) => a.name).sort()).toEqual([
      'account_age_days',
      'age_band',
      'gender',
      'interests',
      'is_premium',
      'lifetime_spend',
    ]);
    expect(layout.itemJoinAttributes.sort()).toEqual(['advertiser_id', 'campaign_id']);
    expect(
      Object.fromEntries([...layout.entityAttributes].map(([e, a]) => [e, a.map((x) => x.name)])),
    ).toEqual({ advertiser: ['industry', 'quality_score'], campaign: ['bid_cpm'] });
    expect(layout.sequences).toEqual([
      { name: 'click_history', keyInfix: '', length: 50, target: 'ad', itemTarget: true },
      {
        name: 'conversion_history',
        keyInfix: 'conversion_history:',
        length: 20,
        target: 'ad',
        itemTarget: true,
      },
    ]);
    // The ad's creative embedding is read from entity_embeddings; the embedder computes no vectors of its
    // width (text encoder only), so the cache holds none and the inputs read zeros (scorer e2e).
    expect(layout.embedding).toEqual({ name: 'creative', width: 64, store: 'entity' });
    expect(layout.unstoredEmbeddings).toEqual([]);
    expect(layout.catalogue).toBe(false);
  });
});

describe('FeatureAssembler on the ad-platform layout against the training encoder', () => {
  const cache = cacheOf(ads);
  const assembler = new FeatureAssembler(layout);
  const encoder = new LayoutEncoder(repo);
  const byId = new Map(ads.map((a) => [a.ad_id as string, a]));
  const tsMs = 1_767_225_600_000;
  // An ad no snapshot names reads the declared defaults (format 'banner'), as the trainer's pseudo row does.
  const adAttributes = repo.entities.find((e) => e.name === 'ad')?.attributes ?? [];
  const adDefaults = Object.fromEntries(
    adAttributes.flatMap((a) => (a.default === undefined ? [] : [[a.name, a.default]])),
  ) as Row;
  const side = (id: string): RawRecord => ({ row: byId.get(id) ?? { ...adDefaults, ad_id: id } });

  function input(candidates: string[], clicks: string[], conversions: string[], profile: Row | null) {
    const seq = (ids: string[], step: number) => ({
      ids,
      rows: Int32Array.from(ids, (id) => cache.row(id)),
      tsMs: ids.map((_, i) => tsMs - step * (i + 1)),
    });
    const value: AssemblyInput = {
      userId: 'u-1',
      context: { app_bundle: 'com.game', os_version: '17.1', network: '5g', floor_price: 2.5 },
      tsMs,
      sequences: [seq(clicks, 3_600_000), seq(conversions, 86_400_000)],
      candidateIds: candidates,
      candidateRows: Int32Array.from(candidates, (id) => cache.row(id)),
      candidateContext: { slot: candidates.map((_, i) => i * 3) },
      requester: profile,
      entities: lookup,
    };
    return value;
  }

  function expected(a: AssemblyInput, profile: Row) {
    const joined = (rows: Record<string, Row>) =>
      Object.fromEntries(Object.entries(rows).map(([k, row]) => [k, { row }]));
    return encoder.encodeRequest({
      ts_ms: tsMs,
      user: { row: { user_id: a.userId, ...profile } },
      context: a.context,
      joined: { advertiser: joined(advertisers), campaign: joined(campaigns) },
      sequences: {
        click_history: a.sequences[0]!.ids.map((id, i) => ({ ...side(id), ts_ms: a.sequences[0]!.tsMs[i] })),
        conversion_history: a.sequences[1]!.ids.map((id, i) => ({
          ...side(id),
          ts_ms: a.sequences[1]!.tsMs[i],
        })),
      },
      candidates: a.candidateIds.map((id, i) => ({ ...side(id), context: { slot: i * 3 } })),
    });
  }

  function check(a: AssemblyInput, profile: Row) {
    const buffers = new InputBuffers(layout.inputs, 16);
    // Dirty buffers: a reused buffer must be overwritten everywhere (padding, zero vectors included).
    for (let k = 0; k < layout.inputs.length; k++) {
      const i = layout.inputs[k]!;
      if (i.dtype === 'float32') buffers.values(k).fill(7);
      else buffers.ids(k).fill(7, 0, buffers.ids(k).data.length);
    }
    const oov =
      assembler.assembleCandidates(cache, buffers, a) + assembler.assembleRequest(cache, buffers, a);
    const feeds = buffers.feeds(a.candidateIds.length);
    expectFeedsEqual(feeds, expected(a, profile));
    return oov;
  }

  it('encodes the profile, the joins and both sequences as the trainer does', () => {
    const a = input(
      ['ad-1', 'ad-3', 'ghost', 'ad-2', 'ad-4'],
      ['ad-2', 'ad-1', 'ghost'],
      ['ad-4'],
      requester,
    );
    expect(check(a, { ...requesterDefaults, ...requester })).toBe(2);
  });

  it('reads every profile attribute as its default when the user has no stored profile', () => {
    const a = input(['ad-2'], [], [], null);
    check(a, { ...requesterDefaults, gender: '', interests: [], lifetime_spend: 0 });
  });

  it('asks for the rows the candidates join (none for unknown items; side features cannot join)', () => {
    const a = input(['ad-1', 'ghost', 'ad-3', 'ad-4'], ['ad-2'], ['ad-2'], requester);
    const wants = assembler.rawWants(cache, a, 'joins');
    expect(Object.fromEntries([...wants].map(([e, keys]) => [e, [...keys].sort()]))).toEqual({
      advertiser: ['adv-1', 'adv-gone'],
      campaign: ['c-1', 'c-2', 'c-gone'],
    });
    expect(assembler.rawWants(cache, a, 'targets').size).toBe(0);
  });
});
