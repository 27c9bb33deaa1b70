// The demo repository's serving layout for unit specs, optionally with a narrower item embedding.
import { DEFAULT_FEATURE_REPO_PATH, loadFeatureRepo, type FeatureRepo } from '@mmctr/feature-repo';
import { ServingLayout } from '../../src/layout/serving-layout';

export const demoRepo = (): FeatureRepo => loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH);

/** A deep, mutable copy of the demo repository. */
export function editableDemoRepo(): FeatureRepo & Record<string, unknown> {
  return JSON.parse(JSON.stringify(demoRepo())) as FeatureRepo & Record<string, unknown>;
}

/** The demo layout; `vectorWidth` narrows the item embedding (and its features) for small vector tests. */
export function demoLayout(vectorWidth?: number): ServingLayout {
  if (vectorWidth === undefined) return new ServingLayout(demoRepo());
  const repo = editableDemoRepo() as unknown as {
    embeddings: { width: number }[];
    features: { kind: string; width?: number }[];
  };
  for (const e of repo.embeddings) e.width = vectorWidth;
  for (const f of repo.features) if (f.kind === 'vector') f.width = vectorWidth;
  return new ServingLayout(repo as unknown as FeatureRepo);
}
