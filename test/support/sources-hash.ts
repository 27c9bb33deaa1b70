import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Short hash of the files a cached artefact is built from: a changed source builds a fresh one. */
export function sourcesHash(files: string[]): string {
  const hash = createHash('sha256');
  for (const f of files) hash.update(readFileSync(f));
  return hash.digest('hex').slice(0, 10);
}
