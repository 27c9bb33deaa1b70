import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FeatureRepo } from './types';

/** The file of a model artifact holding the feature repository document the model was trained with. */
export const ARTIFACT_REPO_FILE = 'feature_repo.json';

/** What compatibility needs of the repository an artifact was trained with: its name, version, feature names. */
export interface ArtifactFeatureRepo {
  readonly name: string;
  readonly version: string;
  readonly features: readonly string[];
}

/**
 * The repository recorded in the artifact folder `dir` (its feature_repo.json); undefined when it records
 * none (a tabular import reads CSV columns, not a repository). Throws, naming the file, when the file
 * is unreadable or is not a repository document.
 */
export function artifactFeatureRepo(dir: string): ArtifactFeatureRepo | undefined {
  const file = join(dir, ARTIFACT_REPO_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  let doc: { name?: unknown; version?: unknown; features?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message})`);
  }
  const features = Array.isArray(doc.features)
    ? (doc.features as { name?: unknown }[]).map((f) => f?.name)
    : undefined;
  if (typeof doc.name !== 'string' || !features || features.some((n) => typeof n !== 'string')) {
    throw new Error(`${file}: not a feature repository document (needs a name and named features)`);
  }
  return { name: doc.name, version: String(doc.version), features: features as string[] };
}

/** The names of features the artifact was trained with that the repository does not define (in the artifact's order). */
export function missingFeatures(repo: FeatureRepo, trained: ArtifactFeatureRepo): string[] {
  const known = new Set(repo.features.map((f) => f.name));
  return [...new Set(trained.features)].filter((name) => !known.has(name));
}

/** Why a model cannot be served with the running repository (logged, and reported by the scorer). */
export function incompatibilityReason(
  version: string,
  repo: FeatureRepo,
  missing: readonly string[],
): string {
  return (
    `model ${version}: the running feature repository ${repo.name} ${repo.version} ` +
    `cannot supply features: ${missing.join(', ')}`
  );
}
