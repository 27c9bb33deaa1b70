import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { format } from 'prettier';

export const REPO_ROOT = join(__dirname, '..', '..');

/** The records of a JSONL file (blank lines skipped). */
export function readJsonl<T>(file: string): T[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

/** Writes a committed result file as the lint step formats JSON, so a rerun leaves the tree lint-clean. */
export async function writeCommittedJson(file: string, doc: unknown): Promise<void> {
  writeFileSync(file, await format(JSON.stringify(doc), { parser: 'json' }));
}
