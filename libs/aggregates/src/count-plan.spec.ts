import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFeatureRepo } from '@mmctr/feature-repo';
import { keySlot } from '@mmctr/online-store';
import { counterLayout } from './counter-layout';
import { lookupId, lookupsOf, planCounts, type CountedEvent } from './count-plan';

// The loader's good vector: item views (1m and 1h tiers), buys, revenue (1d), user x brand views
// filtered on page 'home', user x item buys, and a ratio (which has no counters of its own).
const repo = parseFeatureRepo(
  JSON.parse(
    readFileSync(
      join(__dirname, '..', '..', 'feature-repo', 'test-vectors', 'good', 'aggregations.json'),
      'utf8',
    ),
  ),
);
const layout = counterLayout(repo);
const T0 = 1767225600000; // 2026-01-01T00:00:00Z
const M = 60_000;
const H = 3_600_000;
const D = 86_400_000;
const view = (id: string, ts: number, page = 'home'): CountedEvent => ({
  event_id: id,
  type: 'view',
  ts_ms: ts,
  user_id: 'u1',
  item_id: 'i/1',
  page,
});

describe('counterLayout', () => {
  it('has the count and sum aggregations, each with the tiers its windows read', () => {
    expect(layout.aggregations.map((a) => [a.name, a.tiers.map((t) => t.bucketMs)])).toEqual([
      ['item_views', [M, H]],
      ['item_buys', [H]],
      ['item_revenue', [D]],
      ['user_brand_views', [H]],
      ['user_item_buys', [D]],
    ]);
    expect(layout.specs.get('item')).toEqual({
      upToByBucket: new Map([
        [M, H],
        [H, 7 * D],
        [D, 7 * D],
      ]),
      markerBucketMs: D,
      markerHorizonMs: 2 * D + 7 * D,
    });
  });

  it('keeps every redelivery marker past every counter its events touched', () => {
    const buy = (id: string, ts: number): CountedEvent => ({
      event_id: id,
      type: 'buy',
      ts_ms: ts,
      user_id: 'u1',
      item_id: 'i1',
      amount: 1,
    });
    const events = [T0, T0 + 1, T0 + H - 1, T0 + 17 * H + 123, T0 + D - 1].flatMap((ts, i) => [
      view(`v${i}`, ts),
      buy(`b${i}`, ts),
    ]);
    const counted = planCounts(layout, events, new Map(), T0, '').flatMap((g) => g.events);
    expect(counted.length).toBeGreaterThan(events.length);
    for (const e of counted) {
      expect(e.increments.length).toBeGreaterThan(0);
      for (const i of e.increments) expect(i.expireAtMs).toBeLessThan(e.markerExpireAtMs);
    }
  });
});

describe('planCounts', () => {
  it('increments every tier of every matching aggregation, per key group, guarded by a marker', () => {
    const looked = new Map([[lookupId('item', 'i/1', 'brand'), 'a{b},c']]);
    const groups = planCounts(layout, [view('e1', T0 + 61_000)], looked, T0, 'p:');
    expect(groups).toEqual([
      {
        group: 'p:agg:{item=i%2F1}:seen:item',
        events: [
          {
            eventId: 'e1',
            markerKey: `p:agg:{item=i%2F1}:seen:item:${T0}`,
            markerExpireAtMs: T0 + D + 2 * D + 7 * D,
            increments: [
              {
                key: `p:agg:{item=i%2F1}:item=i%2F1:${M}:${T0 + M}`,
                field: 'item_views',
                amount: 1,
                expireAtMs: T0 + M + 2 * M + H,
              },
              {
                key: `p:agg:{item=i%2F1}:item=i%2F1:${H}:${T0}`,
                field: 'item_views',
                amount: 1,
                expireAtMs: T0 + 2 * H + 7 * D,
              },
            ],
          },
        ],
      },
      {
        // The hash tag is the first key part only; the brand is URI-encoded in the counter's name.
        group: 'p:agg:{user=u1}:seen:user+item.brand',
        events: [
          expect.objectContaining({
            markerKey: `p:agg:{user=u1}:seen:user+item.brand:${T0}`,
            increments: [
              expect.objectContaining({
                key: `p:agg:{user=u1}:user+item.brand=u1,a%7Bb%7D%2Cc:${H}:${T0}`,
                field: 'user_brand_views',
              }),
            ],
          }),
        ],
      },
    ]);
  });

  it('applies filters, skips zero sums, counts an event once per batch and drops expired buckets', () => {
    const buy = (id: string, amount: number): CountedEvent => ({
      event_id: id,
      type: 'buy',
      ts_ms: T0,
      user_id: 'u1',
      item_id: 'i1',
      amount,
    });
    const events = [view('e1', T0, 'search'), buy('b1', 2.5), buy('b1', 2.5), buy('b0', 0)];
    const groups = planCounts(layout, events, new Map(), T0 + H, '');
    const fields = groups.flatMap((g) =>
      g.events.flatMap((e) => e.increments.map((i) => `${e.eventId}:${i.field}:${i.amount}`)),
    );
    // The 1m bucket of the view has not expired (T0 + 2m + 1h > now); the view is filtered out of
    // user_brand_views (page 'search'); b0 sums 0 into revenue but still counts as a buy.
    expect(fields.sort()).toEqual([
      'b0:item_buys:1',
      'b0:user_item_buys:1',
      'b1:item_buys:1',
      'b1:item_revenue:2.5',
      'b1:user_item_buys:1',
      'e1:item_views:1',
      'e1:item_views:1',
    ]);
    // The 1m bucket lives one bucket after the last t reading it (T0 + 1m + 1h - 1): up to T0 + 2m + 1h.
    const keysAt = (now: number) =>
      planCounts(layout, [view('e1', T0, 'search')], new Map(), now, '').flatMap((g) =>
        g.events.flatMap((e) => e.increments.map((i) => i.key)),
      );
    expect(keysAt(T0 + 2 * M + H - 1)).toEqual([
      `agg:{item=i%2F1}:item=i%2F1:${M}:${T0}`,
      `agg:{item=i%2F1}:item=i%2F1:${H}:${T0}`,
    ]);
    expect(keysAt(T0 + 2 * M + H)).toEqual([`agg:{item=i%2F1}:item=i%2F1:${H}:${T0}`]);
    expect(planCounts(layout, [view('e1', T0)], new Map(), T0 + 8 * D, '')).toEqual([]);
  });

  it('reads a composite key attribute once per entity and falls back to its default when unknown', () => {
    const events = [view('e1', T0), view('e2', T0 + 1)];
    expect(lookupsOf(layout, events)).toEqual([{ entity: 'item', key: 'i/1', attribute: 'brand' }]);
    const groups = planCounts(layout, events, new Map(), T0, '');
    const keys = groups.flatMap((g) => g.events.flatMap((e) => e.increments.map((i) => i.key)));
    expect(keys).toContain(`agg:{user=u1}:user+item.brand=u1,:${H}:${T0}`);
  });

  it('guards an event by its first key part only: re-categorised, it finds the same marker', () => {
    const before = new Map([[lookupId('item', 'i/1', 'brand'), 'acme']]);
    const after = new Map([[lookupId('item', 'i/1', 'brand'), 'zenith']]);
    const plan = (looked: Map<string, string>) =>
      planCounts(layout, [view('e1', T0)], looked, T0, 'p:').find((g) =>
        g.group.endsWith('user+item.brand'),
      )!;
    const [first, again] = [plan(before), plan(after)];
    // The counters follow the brand, the marker does not: the redelivery's SADD finds e1 and adds nothing.
    expect(first.events[0]!.increments.map((i) => i.key)).toEqual([
      `p:agg:{user=u1}:user+item.brand=u1,acme:${H}:${T0}`,
    ]);
    expect(again.events[0]!.increments.map((i) => i.key)).toEqual([
      `p:agg:{user=u1}:user+item.brand=u1,zenith:${H}:${T0}`,
    ]);
    expect(again.group).toBe(first.group);
    expect(again.events[0]!.markerKey).toBe(first.events[0]!.markerKey);
    // Both key values and the marker in one Redis Cluster slot: one script call checks and counts.
    const keys = [first, again].flatMap((g) =>
      g.events.flatMap((e) => [e.markerKey, ...e.increments.map((i) => i.key)]),
    );
    expect(new Set(keys.map(keySlot)).size).toBe(1);
  });

  it('keeps every key of a key value in one hash slot, whatever the value holds (Redis Cluster)', () => {
    const odd = ['}', '{', '{x}', 'a,b', '%7D', 'plain'];
    const events = odd.map((id, i) => ({ ...view(`e${i}`, T0), item_id: id, user_id: id }));
    const looked = new Map(odd.map((id) => [lookupId('item', id, 'brand'), `}${id}{`]));
    for (const prefix of ['p:', 'p:{tagged}:']) {
      const groups = planCounts(layout, events, looked, T0, prefix);
      expect(new Set(groups.map((g) => g.group)).size).toBe(2 * odd.length);
      for (const g of groups) {
        const keys = g.events.flatMap((e) => [e.markerKey, ...e.increments.map((i) => i.key)]);
        expect(new Set(keys.map(keySlot))).toEqual(new Set([keySlot(`${g.group}:x`)]));
      }
    }
  });
});
