import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { format } from 'prettier';

export const REPO_ROOT = join(__dirname, '..', '..');

/** Writes a committed result file as the lint step formats JSON, so a rerun leaves the tree lint-clean. */
export async function writeCommittedJson(file: string, doc: unknown): Promise<void> {
  writeFileSync(file, await format(JSON.stringify(doc), { parser: 'json' }));
}
