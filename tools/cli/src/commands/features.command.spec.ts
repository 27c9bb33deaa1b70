import { join } from 'node:path';
import { runFeatures } from './features.testing';

const ROOT = join(__dirname, '..', '..', '..', '..');
const VECTORS = join(ROOT, 'libs', 'feature-repo', 'test-vectors');

const run = runFeatures;

describe('mmctr features', () => {
  it('validate prints OK for a valid repository folder', async () => {
    const r = await run('validate', join(ROOT, 'feature-repos', 'ad-platform'));
    expect(r.exitCode).toBe(0);
    expect(r.out).toMatch(/^OK .*repo\.json: ad_platform ads-1, 4 entities, 4 event types, 23 features/);
  });

  it('validate prints every path-named error and exits 2', async () => {
    const r = await run('validate', join(VECTORS, 'bad', 'unknown-transform.json'));
    expect(r.exitCode).toBe(2);
    expect(r.err).toContain("features.item_price.transform: unknown transform 'log2'");
  });

  it('plan refuses breaking changes unless allowed', async () => {
    const demo = join(ROOT, 'feature-repos', 'demo');
    const next = join(VECTORS, 'plan', 'demo-breaking.json');
    const refused = await run('plan', demo, next);
    expect(refused.exitCode).toBe(2);
    expect(refused.err).toContain('  features.country: feature removed');
    const allowed = await run('plan', demo, next, '--allow-breaking');
    expect(allowed.exitCode).toBe(0);
    expect(allowed.out).toContain('breaking changes (allowed):');
  });

  it('plan prints the DDL for the chosen database', async () => {
    const r = await run(
      'plan',
      join(ROOT, 'feature-repos', 'demo'),
      join(VECTORS, 'plan', 'demo-additive.json'),
      '--database',
      'analytics',
    );
    expect(r.exitCode).toBe(0);
    expect(r.out).toContain('  ALTER TABLE analytics.items ADD COLUMN `price` Float64 DEFAULT 0;');
  });
});
