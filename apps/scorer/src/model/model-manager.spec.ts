import type { Logger } from 'pino';
import type { ScorerConfig } from '../config/scorer-config';
import { ItemCache } from '../items/item-cache';
import { demoLayout } from '../../test/support/test-layout';
import type { ItemCacheService } from '../items/item-cache.service';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import { fakeModel, nanOnVector, type FakeModel } from '../../test/support/fake-models';
import { IncompatibleModelError, type ModelLoader } from './model-loader';
import { ModelManager } from './model-manager.service';
import type { ModelRegistryRepository, RegistryModel } from './model-registry.repository';
import { NonFiniteOutputError, type WarmUp } from './onnx-model';

type Behaviour = 'ok' | 'broken' | 'nan-on-vector' | 'nan-always' | 'incompatible';

/** A registry, a loader and an item cache that the tests set up; the manager and its warm-up are real. */
function setup(opts: { retryMs?: number } = {}) {
  const production: RegistryModel[] = [];
  const behaviour = new Map<string, Behaviour>();
  const loaded: FakeModel[] = [];
  const loads: string[] = [];
  const registry = {
    productionVersions: (limit: number) => Promise.resolve(production.slice(0, limit)),
    newest: () => Promise.resolve(null),
  } as unknown as ModelRegistryRepository;
  const loader = {
    async load(version: string, _dir: string, warmUp?: WarmUp) {
      loads.push(version);
      const b = behaviour.get(version) ?? 'ok';
      if (b === 'broken') throw new Error(`cannot open model ${version}`);
      if (b === 'nan-always') throw new NonFiniteOutputError(`model ${version} returned NaN`);
      if (b === 'incompatible') {
        throw new IncompatibleModelError(`model ${version}: cannot supply features: ad_id`, ['ad_id']);
      }
      const model = fakeModel(
        version,
        b === 'nan-on-vector' ? nanOnVector : (_, n) => new Array<number>(n).fill(0.1),
      );
      await warmUp?.(model);
      loaded.push(model);
      return model;
    },
  } as unknown as ModelLoader;
  const cache = new ItemCache(demoLayout());
  const items = { isLoaded: true, cache, refresh: () => Promise.resolve() } as unknown as ItemCacheService;
  const logs: Array<{ level: string; fields: Record<string, unknown>; msg: string }> = [];
  const log =
    (level: string) =>
    (fields: Record<string, unknown>, msg: string): void => {
      logs.push({ level, fields, msg });
    };
  const logger = { info: log('info'), warn: log('warn'), error: log('error') } as unknown as Logger;
  const metrics = new ScorerMetrics();
  const config = {
    SCORER_MODEL_DIR: undefined,
    SCORER_MODEL_ROOT: '/models',
    SCORER_REGISTRY_POLL_MS: 1000,
    SCORER_MODEL_RETRY_MS: opts.retryMs ?? 60_000,
    SCORER_SHADOW_MODE: 'off',
  } as unknown as ScorerConfig;
  const manager = new ModelManager(registry, loader, items, config, metrics, logger);
  /** Makes `version` the newest production version (earlier ones stay listed, as retired ones are). */
  const promote = (version: string, b: Behaviour = 'ok') => {
    behaviour.set(version, b);
    production.unshift({ version, artifact_uri: version, model_type: 'qin', feature_spec_version: 'fs-1' });
  };
  /** Promotes each of `versions` (all loading) in turn, syncing after each: a roll-out. */
  const rollOut = async (...versions: string[]) => {
    for (const version of versions) {
      promote(version);
      await manager.sync();
    }
  };
  /** The production and fallback versions. */
  const serving = () => [manager.version('production'), manager.version('fallback')];
  const skipped = () =>
    logs.filter((l) => l.msg === 'model version skipped').map((l) => [l.fields.version, l.fields.reason]);
  const metric = async (name: string) =>
    (await metrics.registry.getSingleMetric(name)!.get()).values.map((v) => [v.labels, v.value]);
  /** How many loads ended in each result. */
  const loadResults = async () => {
    const { values } = await metrics.modelLoads.get();
    return Object.fromEntries(values.map((v) => [String(v.labels.result), v.value] as const));
  };
  return { manager, promote, rollOut, serving, cache, loaded, loads, skipped, metric, loadResults };
}

describe('ModelManager: which version serves', () => {
  it('serves the newest production version that loads and warms up, logging each skipped one', async () => {
    const t = setup();
    t.cache.upsertItem({ item_id: 'a', ts_ms: 1, attributes: { category: 'c' } });
    t.cache.upsertVector('a', [0.5, 0.25], 1);
    t.promote('v1');
    t.promote('v2', 'nan-on-vector'); // finite on synthetic zeros, NaN on the cached item
    t.promote('v3', 'broken');
    await t.manager.sync();
    expect(t.manager.version('production')).toBe('v1');
    expect(t.skipped()).toEqual([
      ['v3', 'failed to load'],
      ['v2', 'non-finite CTR at warm-up'],
    ]);
    expect(await t.loadResults()).toEqual({ failed: 1, rejected: 1, ok: 1 });
  });

  it('warms up on real cached items: with none cached, a model NaN only on vectors passes', async () => {
    const t = setup();
    t.promote('v1');
    t.promote('v2', 'nan-on-vector');
    await t.manager.sync();
    expect(t.manager.version('production')).toBe('v2');
    expect(t.loads).toEqual(['v2']);
  });

  it('is not ready when no production version loads', async () => {
    const t = setup();
    t.promote('v1', 'broken');
    await t.manager.sync();
    expect(t.manager.ready).toBe(false);
    expect(t.manager.lease('production')).toBeNull();
  });

  it('keeps the version swapped out as the fallback and releases the one before it', async () => {
    const t = setup();
    await t.rollOut('v1', 'v2');
    expect(t.serving()).toEqual(['v2', 'v1']);
    await t.rollOut('v3');
    expect(t.serving()).toEqual(['v3', 'v2']);
    expect(t.loaded.map((m) => [m.version, m.wasRetired])).toEqual([
      ['v1', true],
      ['v2', false],
      ['v3', false],
    ]);
    const info = await t.metric('mmctr_scorer_model_info');
    expect(info).toHaveLength(2);
    expect(info).toEqual(
      expect.arrayContaining([
        [{ role: 'production', version: 'v3' }, 1],
        [{ role: 'fallback', version: 'v2' }, 1],
      ]),
    );
  });

  it('leaves the serving version and its fallback alone when a newer one fails, and retries it later', async () => {
    const t = setup();
    await t.rollOut('v1', 'v2');
    t.promote('v3', 'broken');
    await t.manager.sync();
    await t.manager.sync(); // within SCORER_MODEL_RETRY_MS: not tried again
    expect(t.serving()).toEqual(['v2', 'v1']);
    expect(t.loads).toEqual(['v1', 'v2', 'v3']);

    const r = setup({ retryMs: 0 });
    r.promote('v1');
    r.promote('v2', 'broken');
    await r.manager.sync();
    await r.manager.sync();
    expect(r.loads).toEqual(['v2', 'v1', 'v2']);
    expect(r.manager.version('production')).toBe('v1');
  });

  it('rolls back to the fallback version without loading it again', async () => {
    const t = setup();
    await t.rollOut('v1', 'v2');
    t.promote('v1'); // promoted again: listed first
    await t.manager.sync();
    expect(t.serving()).toEqual(['v1', 'v2']);
    expect(t.loads).toEqual(['v1', 'v2']);
  });

  it('refuses a version whose features the repository cannot supply, keeps serving, and reports why', async () => {
    const t = setup({ retryMs: 0 });
    await t.rollOut('v1');
    t.promote('v2', 'incompatible');
    await t.manager.sync();
    expect(t.serving()).toEqual(['v1', undefined]);
    expect(t.manager.lease('production')?.model.version).toBe('v1');
    expect(t.skipped()).toEqual([['v2', 'model v2: cannot supply features: ad_id']]);
    expect(t.manager.refused()).toEqual([
      { version: 'v2', reason: 'model v2: cannot supply features: ad_id' },
    ]);
    expect(await t.loadResults()).toEqual({ ok: 1, incompatible: 1 });
    // Once it loads (say the scorer now runs a repository that has its features), it is no longer listed.
    await t.rollOut('v2');
    expect(t.manager.version('production')).toBe('v2');
    expect(t.manager.refused()).toEqual([]);
  });
});
