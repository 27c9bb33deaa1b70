import { readFileSync } from 'node:fs';

/** The records of a JSONL file, as the generator writes them (blank lines skipped). */
export function readJsonl<T>(file: string): T[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}
