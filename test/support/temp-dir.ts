import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A fresh directory under the OS temp dir, removed with everything in it when the suite it is made in ends.
 * Call it where hooks may be declared (a file's or a describe's top level); tests that need a directory
 * each make one inside it with `tempSubdir`.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mmctr-${prefix}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A fresh directory inside `root` (one made by `tempDir`), removed with it. */
export function tempSubdir(root: string, prefix: string): string {
  return mkdtempSync(join(root, `${prefix}-`));
}
