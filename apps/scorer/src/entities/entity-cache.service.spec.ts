import type { RawValue } from '@mmctr/features';
import { adPlatform } from '../../../../test/support/feature-repo/ad-platform';
import type { ScorerConfig } from '../config/scorer-config';
import { ServingLayout } from '../layout/serving-layout';
import { EntityCacheService } from './entity-cache.service';
import type { EntityOnlineRepository } from './entity-online.repository';

const REFRESH_MS = 60_000;
const NEGATIVE_MS = 5_000;

/** A cache over a fake online store that answers from `stored` and records each fetch. */
function setup(stored: Record<string, Record<string, Record<string, RawValue>>>, fail = false) {
  const fetches: { entity: string; keys: string[]; attributes: string[] }[] = [];
  const online = {
    fetch: (entity: string, keys: readonly string[], attributes: readonly string[]) => {
      fetches.push({ entity, keys: [...keys], attributes: [...attributes] });
      if (fail) return Promise.reject(new Error('redis down'));
      return Promise.resolve(keys.map((k) => stored[entity]?.[k] ?? null));
    },
  } as unknown as EntityOnlineRepository;
  const config = {
    SCORER_ITEM_CACHE_REFRESH_MS: REFRESH_MS,
    SCORER_NEGATIVE_CACHE_MS: NEGATIVE_MS,
    SCORER_REDIS_TIMEOUT_MS: 1000,
  } as unknown as ScorerConfig;
  const cache = new EntityCacheService(config, online, new ServingLayout(adPlatform('ads-1')));
  return { cache, fetches };
}

const wants = (entries: [string, string[]][]) => new Map(entries.map(([e, keys]) => [e, new Set(keys)]));

describe('EntityCacheService (joined rows)', () => {
  const stored = {
    advertiser: { adv1: { industry: 'retail', quality_score: 0.9 } },
    campaign: { c1: { bid_cpm: 2 } },
  };

  it("fetches each entity's missing keys with the attributes the layout reads, and serves them from memory", async () => {
    const { cache, fetches } = setup(stored);
    const t = 1_000_000;
    expect(
      await cache.load(
        wants([
          ['advertiser', ['adv1', 'gone']],
          ['campaign', ['c1']],
        ]),
        t,
      ),
    ).toBe(true);
    expect(fetches).toEqual([
      { entity: 'advertiser', keys: ['adv1', 'gone'], attributes: ['industry', 'quality_score'] },
      { entity: 'campaign', keys: ['c1'], attributes: ['bid_cpm'] },
    ]);
    expect(cache.get('advertiser', 'adv1')).toEqual({ industry: 'retail', quality_score: 0.9 });
    expect(cache.get('advertiser', 'gone')).toBeUndefined();
    // Within both periods nothing is asked again; an empty key (no join value) is never asked.
    await cache.load(wants([['advertiser', ['adv1', 'gone', '']]]), t + NEGATIVE_MS - 1);
    expect(fetches).toHaveLength(2);
  });

  it('asks again for an unknown key after the negative period and for a known one after the refresh period', async () => {
    const { cache, fetches } = setup(stored);
    const t = 1_000_000;
    await cache.load(wants([['advertiser', ['adv1', 'gone']]]), t);
    await cache.load(wants([['advertiser', ['adv1', 'gone']]]), t + NEGATIVE_MS + 1);
    expect(fetches.at(-1)!.keys).toEqual(['gone']);
    await cache.load(wants([['advertiser', ['adv1', 'gone']]]), t + REFRESH_MS + 1);
    expect(fetches.at(-1)!.keys).toEqual(['adv1', 'gone']);
  });

  it('reports a failed fetch; the rows read as missing', async () => {
    const { cache } = setup(stored, true);
    expect(await cache.load(wants([['campaign', ['c1']]]))).toBe(false);
    expect(cache.get('campaign', 'c1')).toBeUndefined();
  });
});
