import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MovielensTexts } from './import-movielens-parse';

export const MOVIELENS_FILES = ['u.data', 'u.user', 'u.item', 'u.genre', 'u.occupation'] as const;

/**
 * The expected SHA-256 of each file, from a `sha256sum` listing (`<hex>  <name>` per line). A line
 * that is not one is refused, naming the listing and the line.
 */
export function parseChecksums(text: string, source: string): Map<string, string> {
  const sums = new Map<string, string>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const m = /^([0-9a-f]{64}) [ *](\S+)$/.exec(line.trim());
    if (!m) throw new Error(`${source} line ${i + 1}: expected '<sha256 hex>  <file name>'`);
    sums.set(m[2]!, m[1]!);
  });
  return sums;
}

const readOrFail = (path: string, what: string): Buffer => {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT' ? `${what}: no such file (${path})` : `${what}: ${(err as Error).message}`,
    );
  }
};

/**
 * Reads the five files of `dir`, each checked against its SHA-256 in `checksumsFile`: a file missing
 * from the folder or the listing, or whose bytes differ, is refused by name. The files are
 * ISO-8859-1 (u.item holds accented titles), decoded as such.
 */
export function readMovielens(dir: string, checksumsFile: string): MovielensTexts {
  const sums = parseChecksums(readOrFail(checksumsFile, 'checksums').toString('utf8'), checksumsFile);
  const texts = {} as MovielensTexts;
  for (const name of MOVIELENS_FILES) {
    const expected = sums.get(name);
    if (expected === undefined) throw new Error(`${name}: no checksum in ${checksumsFile}`);
    const bytes = readOrFail(join(dir, name), name);
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== expected) {
      throw new Error(`${name}: SHA-256 ${actual} does not match ${checksumsFile} (expected ${expected})`);
    }
    texts[name] = bytes.toString('latin1');
  }
  return texts;
}
