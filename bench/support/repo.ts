import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';

export const REPO_ROOT = join(__dirname, '..', '..');

/**
 * Writes a committed result file as the lint step formats it (the repository's Prettier config, e.g. its
 * print width), so a rerun leaves the tree lint-clean.
 */
export async function writeCommittedJson(file: string, doc: unknown): Promise<void> {
  const options = await resolveConfig(file);
  writeFileSync(file, await format(JSON.stringify(doc), { ...options, filepath: file, parser: 'json' }));
}
