import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { schemaErrors } from './schema-check';
import { semanticErrors } from './semantic';
import type { FeatureRepo } from './types';

/** The file a repository folder holds. */
export const REPO_FILE = 'repo.json';

export class FeatureRepoError extends Error {
  constructor(
    readonly source: string,
    readonly errors: readonly string[],
  ) {
    super(`${source}: invalid feature repository\n${errors.map((e) => `  ${e}`).join('\n')}`);
    this.name = 'FeatureRepoError';
  }
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}

/** Every problem of a parsed document: schema errors first; semantic checks only once the shape is right. */
export function checkFeatureRepo(doc: unknown): string[] {
  const shape = schemaErrors(doc);
  return shape.length > 0 ? shape : semanticErrors(doc as FeatureRepo);
}

/** A valid repository as a deeply frozen object, or a FeatureRepoError listing every path-named problem. */
export function parseFeatureRepo(doc: unknown, source = '(document)'): FeatureRepo {
  const errors = checkFeatureRepo(doc);
  if (errors.length > 0) throw new FeatureRepoError(source, errors);
  return deepFreeze(structuredClone(doc) as FeatureRepo);
}

/** `path` is a repository file or a folder holding repo.json. */
export function resolveRepoPath(path: string): string {
  return statSync(path).isDirectory() ? join(path, REPO_FILE) : path;
}

export function loadFeatureRepo(path: string): FeatureRepo {
  const file = resolveRepoPath(path);
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FeatureRepoError(file, [`(root): not valid JSON (${(e as Error).message})`]);
  }
  return parseFeatureRepo(doc, file);
}
