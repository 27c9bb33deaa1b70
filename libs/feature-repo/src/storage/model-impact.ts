import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { artifactFeatureRepo, type ArtifactFeatureRepo } from '../model-compat';
import type { FeatureRepo } from '../types';
import type { RegisteredModel } from './feature-store';

export interface ModelImpact {
  version: string;
  status: string;
  /** Features the model reads that the change removes or re-encodes (empty: unaffected). */
  broken: string[];
  /** Why the model could not be checked (no recorded repository, another repository, an unreadable record). */
  unknown?: string;
}

/** Where an artifact folder is: a file:// URL, an absolute path, or a path under `modelRoot`. */
export function artifactDir(uri: string, modelRoot: string): string {
  if (uri.startsWith('file://')) return fileURLToPath(uri);
  return isAbsolute(uri) ? uri : resolve(modelRoot, uri);
}

function trainedOn(model: RegisteredModel, modelRoot: string): ArtifactFeatureRepo | string {
  try {
    return (
      artifactFeatureRepo(artifactDir(model.artifact_uri, modelRoot)) ??
      'unknown repository (its artifact records none)'
    );
  } catch (e) {
    return `unknown repository (${(e as Error).message})`;
  }
}

/**
 * Which registered models a change from `from` to `to` breaks: a model breaks when a feature it was
 * trained on is gone from `to` or is in `reencoded` (removed or encoded differently by the change).
 */
export function modelImpacts(
  models: readonly RegisteredModel[],
  to: FeatureRepo,
  reencoded: readonly string[],
  modelRoot: string,
): ModelImpact[] {
  const defined = new Set(to.features.map((f) => f.name));
  const changed = new Set(reencoded);
  return models.map((m) => {
    const base = { version: m.version, status: m.status };
    const on = trainedOn(m, modelRoot);
    if (typeof on === 'string') return { ...base, broken: [], unknown: on };
    if (on.name !== to.name) {
      return {
        ...base,
        broken: [],
        unknown: `trained on repository '${on.name}' ${on.version}, not '${to.name}'`,
      };
    }
    return { ...base, broken: on.features.filter((f) => changed.has(f) || !defined.has(f)) };
  });
}
