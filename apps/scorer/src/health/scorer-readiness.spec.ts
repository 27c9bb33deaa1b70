import type { DependencyCheck } from '@mmctr/observability';
import { demoLayout } from '../../test/support/test-layout';
import { ItemCache } from '../items/item-cache';
import type { ModelRole, RefusedModel } from '../model/model-manager.service';
import { scorerReadiness } from './scorer-readiness';

/** Fakes of the model manager, the item cache and the online repository's ping. */
function probe(
  versions: Partial<Record<ModelRole, string>>,
  redis: DependencyCheck,
  refused: RefusedModel[] = [],
) {
  const cache = new ItemCache(demoLayout());
  cache.upsertItem({ item_id: 'a', ts_ms: 1, attributes: { category: 'c' } });
  return scorerReadiness(
    {
      ready: versions.production !== undefined,
      version: (role: ModelRole) => versions[role],
      refused: () => refused,
    },
    { isLoaded: true, cache },
    { ping: () => Promise.resolve(redis) },
  );
}

describe('scorerReadiness', () => {
  it('is ready once a production model serves, and reports versions, the item cache and Redis', async () => {
    const r = await probe({ production: 'v2', shadow: 'v3' }, { ok: true })();
    expect(r).toEqual({
      ready: true,
      body: {
        status: 'ready',
        model_version: 'v2',
        shadow_model_version: 'v3',
        refused_models: [],
        item_cache: { loaded: true, rows: 1 },
        redis: { ok: true },
      },
    });
  });

  it('stays ready with Redis down (answers degrade), and is not ready without a model', async () => {
    const down = { ok: false, error: 'Connection is closed.' } as DependencyCheck;
    const withoutRedis = await probe({ production: 'v2' }, down)();
    expect(withoutRedis.ready).toBe(true);
    expect(withoutRedis.body.redis).toEqual(down);

    const withoutModel = await probe({}, { ok: true })();
    expect(withoutModel.ready).toBe(false);
    expect(withoutModel.body).toMatchObject({ status: 'not_ready', model_version: null });
  });

  it('lists the versions refused for features the running repository cannot supply', async () => {
    const refused = [{ version: 'v3', reason: 'model v3: ... cannot supply features: a' }];
    const r = await probe({ production: 'v2' }, { ok: true }, refused)();
    expect(r.body.refused_models).toEqual(refused);
  });
});
