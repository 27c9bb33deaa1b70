import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ARTIFACT_REPO_FILE,
  artifactFeatureRepo,
  incompatibilityReason,
  loadFeatureRepo,
  missingFeatures,
} from './index';

const ROOT = join(__dirname, '..', '..', '..');
const demo = loadFeatureRepo(join(ROOT, 'feature-repos', 'demo'));
const ads = loadFeatureRepo(join(ROOT, 'feature-repos', 'ad-platform'));
const recorded = (features: string[]) => ({ name: 'demo', version: 'fs-2', features });

describe('missingFeatures', () => {
  it('finds nothing missing for an artifact trained with the running repository', () => {
    expect(missingFeatures(demo, recorded(demo.features.map((f) => f.name)))).toEqual([]);
    expect(missingFeatures(ads, recorded(ads.features.map((f) => f.name)))).toEqual([]);
  });

  it('names each recorded feature the running repository does not define, in the artifact order', () => {
    const trained = recorded(['user_id', 'campaign_bid', 'device', 'creative_vec', 'campaign_bid']);
    expect(missingFeatures(demo, trained)).toEqual(['campaign_bid', 'creative_vec']);
    expect(missingFeatures(ads, trained)).toEqual(['device']);
  });

  it('checks by feature name only, even where a hash field has that name', () => {
    // The demo's `tags` feature hashes under field `tag`: a recorded `tag` is not one of its features.
    expect(missingFeatures(demo, recorded(['tags', 'tag']))).toEqual(['tag']);
  });
});

describe('artifactFeatureRepo', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'artifact-repo-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const record = (text: string) => writeFileSync(join(dir, ARTIFACT_REPO_FILE), text);

  it("reads the name, version and feature names of the artifact's repository document", () => {
    record(JSON.stringify(ads));
    expect(artifactFeatureRepo(dir)).toEqual({
      name: 'ad_platform',
      version: ads.version,
      features: ads.features.map((f) => f.name),
    });
  });

  it('finds no record in an artifact without feature_repo.json (a tabular import)', () => {
    expect(artifactFeatureRepo(dir)).toBeUndefined();
  });

  it('names the file when the record is not JSON or not a repository document', () => {
    record('{');
    expect(() => artifactFeatureRepo(dir)).toThrow(`${join(dir, ARTIFACT_REPO_FILE)}: not JSON`);
    record(JSON.stringify({ name: 'demo', features: [{ kind: 'categorical' }] }));
    expect(() => artifactFeatureRepo(dir)).toThrow(
      `${join(dir, ARTIFACT_REPO_FILE)}: not a feature repository document (needs a name and named features)`,
    );
  });
});

describe('incompatibilityReason', () => {
  it('names the model, the running repository and the missing features', () => {
    expect(incompatibilityReason('qin-7', demo, ['campaign_bid', 'creative_vec'])).toBe(
      'model qin-7: the running feature repository demo fs-2 cannot supply features: campaign_bid, creative_vec',
    );
  });
});
