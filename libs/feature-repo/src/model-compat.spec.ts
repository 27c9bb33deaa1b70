import { join } from 'node:path';
import { loadFeatureSpec } from '@mmctr/features';
import { incompatibilityReason, loadFeatureRepo, missingFeatures } from './index';

const ROOT = join(__dirname, '..', '..', '..');
const demo = loadFeatureRepo(join(ROOT, 'feature-repos', 'demo'));
const ads = loadFeatureRepo(join(ROOT, 'feature-repos', 'ad-platform'));
const legacy = loadFeatureSpec(join(ROOT, 'libs', 'features', 'feature_spec.json'));
const recorded = (features: string[]) => ({
  ...legacy,
  feature_repo: { name: 'demo', version: 'fs-2', features },
});

describe('missingFeatures', () => {
  it('finds nothing missing for an artifact trained with the running repository', () => {
    expect(missingFeatures(demo, recorded(demo.features.map((f) => f.name)))).toEqual([]);
    expect(missingFeatures(ads, recorded(ads.features.map((f) => f.name)))).toEqual([]);
  });

  it('names each recorded feature the running repository does not define, in the artifact order', () => {
    const spec = recorded(['user_id', 'campaign_bid', 'device', 'creative_vec', 'campaign_bid']);
    expect(missingFeatures(demo, spec)).toEqual(['campaign_bid', 'creative_vec']);
    expect(missingFeatures(ads, spec)).toEqual(['device']);
  });

  it('checks a recorded list by feature name only, even where a hash field has that name', () => {
    // The demo's `tags` feature hashes under field `tag`: a recorded `tag` is not one of its features.
    expect(missingFeatures(demo, recorded(['tags', 'tag']))).toEqual(['tag']);
  });

  it('reads a legacy artifact (no feature_repo) by its field names: the demo supplies all of them', () => {
    expect(missingFeatures(demo, legacy)).toEqual([]);
  });

  it('names the legacy fields another repository lacks (tag and history_age by their hash / age field)', () => {
    expect(missingFeatures(ads, legacy)).toEqual([
      'device',
      'placement',
      'country',
      'hour_of_day',
      'item_id',
      'category',
      'position',
      'tag',
      'history_age',
    ]);
  });
});

describe('incompatibilityReason', () => {
  it('names the model, the running repository and the missing features', () => {
    expect(incompatibilityReason('qin-7', demo, ['campaign_bid', 'creative_vec'])).toBe(
      'model qin-7: the running feature repository demo fs-2 cannot supply features: campaign_bid, creative_vec',
    );
  });
});
