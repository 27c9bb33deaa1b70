import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFeatureRepo } from './load';
import { LayoutError, modelLayout } from './layout';

const ROOT = join(__dirname, '..', '..', '..');
const GOLDEN = join(__dirname, '..', 'test-vectors', 'layout');
// ad-platform-fitted: the ad platform with floor_price's stats and user_id's vocabulary fitted by the trainer
const REPOS = {
  demo: 'feature-repos/demo',
  'ad-platform': 'feature-repos/ad-platform',
  'ad-platform-fitted': 'libs/feature-repo/test-vectors/repos/ad-platform-fitted',
  // aggregate features on both sides, numeric and bucketised, default and chosen windows
  'aggregate-features': 'libs/feature-repo/test-vectors/good/aggregate-features.json',
};

describe('modelLayout', () => {
  it.each(Object.entries(REPOS))(
    '%s matches its golden layout (shared with the Python twin)',
    (name, path) => {
      const layout = modelLayout(loadFeatureRepo(join(ROOT, path)));
      const file = join(GOLDEN, `${name}.json`);
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, `${JSON.stringify(layout, null, 2)}\n`);
      expect(layout).toEqual(JSON.parse(readFileSync(file, 'utf8')));
    },
  );

  it('lays the demo out as the serving tensors it has always had', () => {
    const l = modelLayout(loadFeatureRepo(join(ROOT, REPOS.demo)));
    expect(l.user.categorical.map((s) => s.feature)).toEqual([
      'user_id',
      'device',
      'placement',
      'country',
      'hour_of_day',
    ]);
    expect(l.candidate.categorical.map((s) => s.feature)).toEqual(['item_id', 'category', 'position']);
    expect(l.inputs.map((i) => [i.name, i.shape])).toEqual([
      ['user_cat', ['Bu', 5]],
      ['hist_cat', ['Bu', 64, 2]],
      ['hist_multi', ['Bu', 64, 5]],
      ['hist_vec', ['Bu', 64, 128]],
      ['hist_age', ['Bu', 64]],
      ['cand_cat', ['B', 3]],
      ['cand_multi', ['B', 5]],
      ['cand_vec', ['B', 128]],
    ]);
  });

  it('reaches joined entities through the key attribute and buckets numbers as ids', () => {
    const l = modelLayout(loadFeatureRepo(join(ROOT, REPOS['ad-platform'])));
    const industry = l.candidate.categorical.find((s) => s.feature === 'industry');
    expect(industry).toMatchObject({ source: 'advertiser.industry', via: 'ad.advertiser_id', size: 256 });
    expect(l.user.categorical.find((s) => s.feature === 'account_age')).toMatchObject({
      encoding: 'bucketize',
      size: 8,
    });
    expect(l.user.numeric.map((s) => s.feature)).toEqual(['lifetime_spend', 'floor_price']);
    expect(l.candidate.numeric.map((s) => s.feature)).toEqual(['slot', 'advertiser_quality', 'campaign_bid']);
    expect(l.inputs.map((i) => i.name)).toEqual([
      'user_cat',
      'user_num',
      'user_multi',
      'click_history_cat',
      'click_history_multi',
      'click_history_age',
      'conversion_history_cat',
      'conversion_history_vec',
      'cand_cat',
      'cand_num',
      'cand_multi',
      'cand_vec',
    ]);
  });

  it('lays aggregate features out one slot per window, on the side their key depends on', () => {
    const l = modelLayout(loadFeatureRepo(join(ROOT, REPOS['aggregate-features'])));
    const slots = (g: typeof l.user): string[] =>
      [...g.categorical, ...g.numeric].filter((s) => s.window).map((s) => `${s.feature}@${s.window}`);
    expect(slots(l.user)).toEqual(['user_views@1d', 'user_views@1h']);
    // keyed by the item, or by the user and an item attribute: the value depends on the candidate
    expect(slots(l.candidate)).toEqual([
      'item_revenue@7d',
      'item_views@1h',
      'item_views@24h',
      'item_views@7d',
      'item_conversion_7d@7d',
      'user_brand_views@7d',
    ]);
    expect(l.candidate.categorical.find((s) => s.feature === 'item_revenue')).toEqual({
      feature: 'item_revenue',
      source: 'aggregate.item_revenue',
      window: '7d',
      encoding: 'bucketize',
      size: 5,
      clip: [0, 1000],
      boundaries: [1, 10, 100],
    });
  });

  it('refuses an aggregate feature keyed by an entity of neither side', () => {
    const repo = loadFeatureRepo(join(ROOT, REPOS['ad-platform']));
    const aggregations = [
      {
        name: 'advertiser_events',
        key: ['advertiser'],
        source: repo.label.anchor,
        op: 'count' as const,
        windows: ['1d'],
        granularity: [{ up_to: '1d', bucket: '1h' }],
      },
    ];
    const features = [
      ...repo.features,
      { name: 'advertiser_events', kind: 'aggregate' as const, aggregation: 'advertiser_events' },
    ];
    expect(() => modelLayout({ ...repo, aggregations, features })).toThrow(
      new LayoutError(
        "features.advertiser_events: aggregation 'advertiser_events' is keyed by 'advertiser', neither the requester 'user' alone nor with the candidate 'ad'",
      ),
    );
  });

  it('refuses a feature no request can reach, naming it', () => {
    const repo = loadFeatureRepo(join(ROOT, REPOS['ad-platform']));
    // The advertiser's key no longer matches the ad's advertiser_id attribute: no join reaches it.
    const entities = repo.entities.map((e) =>
      e.name === 'advertiser' ? { ...e, key: 'advertiser_ref' } : e,
    );
    expect(() => modelLayout({ ...repo, entities })).toThrow(
      new LayoutError(
        "features.industry: entity 'advertiser' is neither 'user' nor 'ad' nor joined to them by a key attribute",
      ),
    );
  });
});
