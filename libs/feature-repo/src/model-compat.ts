import type { FeatureRepo } from './types';

/** What a trained model records about the repository it was trained with (its feature spec's `feature_repo`). */
export interface ArtifactFeatureRepo {
  readonly name: string;
  readonly version: string;
  readonly features: readonly string[];
}

/**
 * The parts of an artifact's feature_spec.json that name features. A spec without `feature_repo` comes
 * from the built-in demo layout: its user / candidate field names, the tag field and the history age
 * field are the names it reads.
 */
export interface ArtifactSpec {
  readonly feature_repo?: ArtifactFeatureRepo;
  readonly user_fields?: readonly { readonly name: string }[];
  readonly candidate_fields?: readonly { readonly name: string }[];
  readonly tags?: { readonly field: string };
  readonly history?: { readonly age?: { readonly field: string } };
}

/** Every name a legacy spec may use for a repository's feature: its name, hash field, history age field. */
function legacyNames(repo: FeatureRepo): Set<string> {
  const names = new Set<string>();
  for (const f of repo.features) {
    names.add(f.name);
    if ((f.kind === 'categorical' || f.kind === 'multi_categorical') && f.field) names.add(f.field);
    if (f.kind === 'sequence' && f.age) names.add(f.age.field);
  }
  return names;
}

/** The feature names an artifact reads: its recorded repository's, or the legacy spec's field names. */
export function artifactFeatureNames(spec: ArtifactSpec): string[] {
  if (spec.feature_repo) return [...spec.feature_repo.features];
  return [
    ...(spec.user_fields ?? []).map((f) => f.name),
    ...(spec.candidate_fields ?? []).map((f) => f.name),
    ...(spec.tags ? [spec.tags.field] : []),
    ...(spec.history?.age ? [spec.history.age.field] : []),
  ];
}

/** The names of features the artifact reads that the repository does not define (in the artifact's order). */
export function missingFeatures(repo: FeatureRepo, spec: ArtifactSpec): string[] {
  // A recorded repository lists feature names only; a legacy spec's names may be hash field names.
  const known = spec.feature_repo ? new Set(repo.features.map((f) => f.name)) : legacyNames(repo);
  return [...new Set(artifactFeatureNames(spec))].filter((name) => !known.has(name));
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
