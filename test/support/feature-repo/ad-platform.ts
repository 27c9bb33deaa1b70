import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_FILE, parseFeatureRepo, type FeatureRepo } from '@mmctr/feature-repo';

export const AD_PLATFORM = join(__dirname, '..', '..', '..', 'feature-repos', 'ad-platform');

/** The parts of a repository document the tests edit. */
export type RepoDoc = {
  version: string;
  entities: { name: string; attributes?: { name: string; type: string }[] }[];
  event_types: { name: string; entities: string[]; attributes?: Record<string, unknown>[] }[];
  features: { name: string; vocabulary?: string[] }[];
};

/** The ad-platform repository edited by `edit`, under `version`. */
export function adPlatform(version: string, edit: (doc: RepoDoc) => void = () => undefined): FeatureRepo {
  const doc = JSON.parse(readFileSync(join(AD_PLATFORM, REPO_FILE), 'utf8')) as RepoDoc;
  doc.version = version;
  edit(doc);
  return parseFeatureRepo(doc, version);
}

/** An additive change: a new optional attribute with a default on ad_impression, a new event type. */
export const additive = (doc: RepoDoc): void => {
  doc.event_types[0]!.attributes!.push({ name: 'placement_id', type: 'string', default: 'none' });
  doc.event_types.push({
    name: 'video_view',
    entities: ['user', 'ad'],
    attributes: [{ name: 'watch_ms', type: 'int', default: 0 }],
  });
};

/** Writes `repo` as the repository folder `parent/name` (what FEATURE_REPO and `features apply` take). */
export function writeRepo(parent: string, name: string, repo: FeatureRepo): string {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, REPO_FILE), JSON.stringify(repo));
  return dir;
}
