import { resolveReference } from './semantic';
import type { CategoricalFeature, FeatureRepo } from './types';

/** The field lists of libs/features/feature_spec.json, read off a repository (the built-in layout). */
export interface LegacySpecView {
  version: string;
  user_fields: { name: string; buckets: number; clip?: [number, number] }[];
  candidate_fields: { name: string; buckets: number; clip?: [number, number] }[];
  tags: { field: string; max: number; buckets: number };
  history: { length: number; order: string; age?: { field: string; boundaries_ms: number[] } };
  multimodal: { dim: number };
  label: { attribution_window_ms: number };
}

/**
 * User fields are hashed categoricals of the user or of the request; candidate fields those of the item
 * or of the candidate slot. Throws when the repository lacks a piece the built-in layout needs.
 */
export function legacySpecView(repo: FeatureRepo): LegacySpecView {
  const field = (f: CategoricalFeature) => ({
    name: f.field ?? f.name,
    buckets: f.buckets ?? 0,
    ...(f.clip ? { clip: [f.clip[0], f.clip[1]] as [number, number] } : {}),
  });
  const side = (f: CategoricalFeature): 'user' | 'candidate' | undefined => {
    const [ns, attr] = f.source.split('.') as [string, string];
    if (ns === 'context') {
      const a = repo.context.attributes.find((x) => x.name === attr);
      return a?.scope === 'candidate' ? 'candidate' : 'user';
    }
    const entity = resolveReference(repo, f.source)?.entity;
    return entity === 'user' ? 'user' : entity === 'item' ? 'candidate' : undefined;
  };
  const cats = repo.features.filter((f): f is CategoricalFeature => f.kind === 'categorical');
  const tags = repo.features.find((f) => f.kind === 'multi_categorical');
  const hist = repo.features.find((f) => f.kind === 'sequence');
  const vec = repo.features.find((f) => f.kind === 'vector');
  if (!tags || !hist || !vec) throw new Error(`feature repo ${repo.name}: not the built-in layout`);
  return {
    version: repo.version,
    user_fields: cats.filter((f) => side(f) === 'user').map(field),
    candidate_fields: cats.filter((f) => side(f) === 'candidate').map(field),
    tags: { field: tags.field ?? tags.name, max: tags.max_length, buckets: tags.buckets },
    history: {
      length: hist.length,
      order: hist.order ?? 'newest_first',
      ...(hist.age ? { age: { field: hist.age.field, boundaries_ms: [...hist.age.boundaries_ms] } } : {}),
    },
    multimodal: { dim: vec.width },
    label: { attribution_window_ms: repo.label.attribution_window_ms },
  };
}
