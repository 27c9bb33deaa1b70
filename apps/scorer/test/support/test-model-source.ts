import { join } from 'node:path';
import { sourcesHash } from '../../../../test/support/sources-hash';

/** The script that exports the scorer's deterministic test graphs (tests and bench/score). */
export const TEST_MODEL_SCRIPT = join(__dirname, '..', 'fixtures', 'make-test-model.py');

/** Hash of what a test graph is built from: cache folders carry it, so a changed source builds afresh. */
export function testModelSourcesHash(): string {
  return sourcesHash([
    TEST_MODEL_SCRIPT,
    join(__dirname, '..', '..', '..', '..', 'libs', 'feature-repo', 'test-vectors', 'layout', 'demo.json'),
  ]);
}
