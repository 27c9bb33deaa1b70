import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFeatureRepo } from '@mmctr/feature-repo';
import { keySlot } from '@mmctr/online-store';
import { counterLayout } from './counter-layout';
import { CountPlanner, lookupId, lookupsOf, type CountedEvent, type Looked } from './count-plan';

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
const buy = (id: string, ts: number, amount = 1, item = 'i1'): CountedEvent => ({
  event_id: id,
  type: 'buy',
  ts_ms: ts,
  user_id: 'u1',
  item_id: item,
  amount,
});

/** A plan as plain data: per group its marker set, markers and counters. */
function planCounts(
  events: readonly CountedEvent[],
  looked: Looked,
  nowMs: number,
  prefix: string,
  maxOps?: number,
  minTtlMs?: number,
) {
  return new CountPlanner(layout, prefix, maxOps, minTtlMs)
    .plan(events, looked, nowMs)
    .map((g) => ({ group: g.group, markers: g.markers, counters: g.counters }));
}

const brands = (entries: [string, string][]): Looked =>
  new Map([[lookupId('item', 'brand'), new Map(entries)]]);

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
    const events = [T0, T0 + 1, T0 + H - 1, T0 + 17 * H + 123, T0 + D - 1].flatMap((ts, i) => [
      view(`v${i}`, ts),
      buy(`b${i}`, ts),
    ]);
    // Each event on its own: its marker outlives every counter it touched.
    let counted = 0;
    for (const e of events) {
      for (const g of planCounts([e], new Map(), T0, '')) {
        expect(g.markers).toHaveLength(1);
        expect(g.counters.length).toBeGreaterThan(0);
        for (const c of g.counters) expect(c.expireAtMs).toBeLessThan(g.markers[0]!.expireAtMs);
        counted++;
      }
    }
    expect(counted).toBeGreaterThan(events.length);
  });
});

describe('CountPlanner', () => {
  it('increments every tier of every matching aggregation, per key group, guarded by a marker', () => {
    const groups = planCounts([view('e1', T0 + 61_000)], brands([['i/1', 'a{b},c']]), T0, 'p:');
    expect(groups).toEqual([
      {
        group: 'p:agg:{item=i%2F1}:seen:item',
        markers: [
          {
            key: `p:agg:{item=i%2F1}:seen:item:${T0}`,
            expireAtMs: T0 + D + 2 * D + 7 * D,
            ids: ['e1'],
          },
        ],
        // A group's counters come in no particular order.
        counters: expect.arrayContaining([
          {
            key: `p:agg:{item=i%2F1}:item=i%2F1:${M}:${T0 + M}`,
            expireAtMs: T0 + M + 2 * M + H,
            amounts: [['item_views', 1]],
          },
          {
            key: `p:agg:{item=i%2F1}:item=i%2F1:${H}:${T0}`,
            expireAtMs: T0 + 2 * H + 7 * D,
            amounts: [['item_views', 1]],
          },
        ]) as unknown,
      },
      {
        // The hash tag is the first key part only; the brand is URI-encoded in the counter's name.
        group: 'p:agg:{user=u1}:seen:user+item.brand',
        markers: [
          expect.objectContaining({ key: `p:agg:{user=u1}:seen:user+item.brand:${T0}`, ids: ['e1'] }),
        ],
        counters: [
          {
            key: `p:agg:{user=u1}:user+item.brand=u1,a%7Bb%7D%2Cc:${H}:${T0}`,
            expireAtMs: T0 + 2 * H + 7 * D,
            amounts: [['user_brand_views', 1]],
          },
        ],
      },
    ]);
    expect(groups[0]!.counters).toHaveLength(2);
  });

  it('sums the increments of a batch per counter and field, one marker per bucket holding every id', () => {
    const events = [
      view('e1', T0 + 1),
      view('e2', T0 + 2),
      view('e3', T0 + M),
      buy('b1', T0 + 3, 2.5, 'i/1'),
      buy('b2', T0 + D + 5, 0.25, 'i/1'),
    ];
    const [item] = planCounts(events, new Map(), T0, '');
    expect(item!.markers.map((m) => [m.key, m.ids])).toEqual([
      [`agg:{item=i%2F1}:seen:item:${T0}`, ['e1', 'e2', 'e3', 'b1']],
      [`agg:{item=i%2F1}:seen:item:${T0 + D}`, ['b2']],
    ]);
    const sums = Object.fromEntries(
      item!.counters.map((c) => [c.key.replace('agg:{item=i%2F1}:item=i%2F1:', ''), c.amounts]),
    );
    expect(sums).toEqual({
      [`${M}:${T0}`]: [['item_views', 2]],
      [`${M}:${T0 + M}`]: [['item_views', 1]],
      [`${H}:${T0}`]: [
        ['item_views', 3],
        ['item_buys', 1],
      ],
      [`${D}:${T0}`]: [['item_revenue', 2.5]],
      [`${H}:${T0 + D}`]: [['item_buys', 1]],
      [`${D}:${T0 + D}`]: [['item_revenue', 0.25]],
    });
  });

  it('applies filters, skips zero sums, counts an event once per batch and drops expired buckets', () => {
    const events = [view('e1', T0, 'search'), buy('b1', T0, 2.5), buy('b1', T0, 2.5), buy('b0', T0, 0)];
    const groups = planCounts(events, new Map(), T0 + H, '');
    const fields = (g: (typeof groups)[number]) =>
      g.counters.flatMap((c) => c.amounts.map(([f, n]) => `${c.key.split(':').slice(-2)[0]}:${f}:${n}`));
    // The 1m bucket of the view has not expired (T0 + 2m + 1h > now); the view is filtered out of
    // user_brand_views (page 'search'); b0 sums 0 into revenue but still counts as a buy; b1 once.
    expect(
      Object.fromEntries(groups.map((g) => [g.group, [g.markers.flatMap((m) => m.ids), fields(g).sort()]])),
    ).toEqual({
      'agg:{item=i%2F1}:seen:item': [['e1'], [`${H}:item_views:1`, `${M}:item_views:1`]],
      'agg:{item=i1}:seen:item': [
        ['b1', 'b0'],
        [`${H}:item_buys:2`, `${D}:item_revenue:2.5`],
      ],
      'agg:{user=u1}:seen:user+item.item_id': [['b1', 'b0'], [`${D}:user_item_buys:2`]],
    });
    // The 1m bucket lives one bucket after the last t reading it (T0 + 1m + 1h - 1): up to T0 + 2m + 1h.
    const keysAt = (now: number) =>
      planCounts([view('e1', T0, 'search')], new Map(), now, '').flatMap((g) => g.counters.map((c) => c.key));
    expect(keysAt(T0 + 2 * M + H - 1).sort()).toEqual([
      `agg:{item=i%2F1}:item=i%2F1:${H}:${T0}`,
      `agg:{item=i%2F1}:item=i%2F1:${M}:${T0}`,
    ]);
    expect(keysAt(T0 + 2 * M + H)).toEqual([`agg:{item=i%2F1}:item=i%2F1:${H}:${T0}`]);
    expect(planCounts([view('e1', T0)], new Map(), T0 + 8 * D, '')).toEqual([]);
  });

  it('keeps old events, and every key it writes, for the minimum TTL after the write', () => {
    const now = T0 + 30 * D;
    const [old] = planCounts([view('e1', T0)], new Map(), now, '', undefined, H);
    // Both tiers of the month-old view are written; keys of events this old expire an hour after the write.
    expect(old!.counters.map((c) => [c.key, c.expireAtMs]).sort()).toEqual([
      [`agg:{item=i%2F1}:item=i%2F1:${H}:${T0}`, now + H],
      [`agg:{item=i%2F1}:item=i%2F1:${M}:${T0}`, now + H],
    ]);
    expect(old!.markers.map((m) => m.expireAtMs)).toEqual([now + H]);
    // A recent event keeps its event-time expiry when that is later than the floor.
    const [recent] = planCounts([view('e2', now)], new Map(), now, '', undefined, H);
    const hourly = recent!.counters.find((c) => c.key.endsWith(`:${H}:${now}`))!;
    expect(hourly.expireAtMs).toBe(now + 2 * H + 7 * D);
    expect(recent!.markers[0]!.expireAtMs).toBe(now + D + 2 * D + 7 * D);
  });

  it('reads a composite key attribute once per entity and falls back to its default when unknown', () => {
    const events = [view('e1', T0), view('e2', T0 + 1)];
    expect(lookupsOf(layout, events)).toEqual([{ entity: 'item', attribute: 'brand', keys: ['i/1'] }]);
    const keys = planCounts(events, new Map(), T0, '').flatMap((g) => g.counters.map((c) => c.key));
    expect(keys).toContain(`agg:{user=u1}:user+item.brand=u1,:${H}:${T0}`);
  });

  it('guards an event by its first key part only: re-categorised, it finds the same marker', () => {
    const plan = (looked: Looked) =>
      planCounts([view('e1', T0)], looked, T0, 'p:').find((g) => g.group.endsWith('user+item.brand'))!;
    const [first, again] = [plan(brands([['i/1', 'acme']])), plan(brands([['i/1', 'zenith']]))];
    // The counters follow the brand, the marker does not: the redelivery finds e1 and adds nothing.
    expect(first.counters.map((c) => c.key)).toEqual([`p:agg:{user=u1}:user+item.brand=u1,acme:${H}:${T0}`]);
    expect(again.counters.map((c) => c.key)).toEqual([
      `p:agg:{user=u1}:user+item.brand=u1,zenith:${H}:${T0}`,
    ]);
    expect(again.group).toBe(first.group);
    expect(again.markers).toEqual(first.markers);
    // Both key values and the marker in one Redis Cluster slot: one script call checks and counts.
    const keys = [first, again].flatMap((g) => [
      ...g.markers.map((m) => m.key),
      ...g.counters.map((c) => c.key),
    ]);
    expect(new Set(keys.map(keySlot)).size).toBe(1);
  });

  it('keeps every key of a key value in one hash slot, whatever the value holds (Redis Cluster)', () => {
    const odd = ['}', '{', '{x}', 'a,b', '%7D', 'plain'];
    const events = odd.map((id, i) => ({ ...view(`e${i}`, T0), item_id: id, user_id: id }));
    const looked = brands(odd.map((id) => [id, `}${id}{`]));
    for (const prefix of ['p:', 'p:{tagged}:']) {
      const groups = planCounts(events, looked, T0, prefix);
      expect(new Set(groups.map((g) => g.group)).size).toBe(2 * odd.length);
      for (const g of groups) {
        const keys = [...g.markers.map((m) => m.key), ...g.counters.map((c) => c.key)];
        expect(new Set(keys.map(keySlot))).toEqual(new Set([keySlot(`${g.group}:x`)]));
      }
    }
  });

  it('splits a key value with many events over groups of at most maxOps, each event in one', () => {
    const events = Array.from({ length: 50 }, (_, i) => view(`e${i}`, T0 + i * M));
    const groups = planCounts(events, new Map(), T0, '', 20).filter((g) => g.group.endsWith(':item'));
    expect(groups.length).toBeGreaterThan(2);
    const ids = groups.flatMap((g) => g.markers.flatMap((m) => m.ids));
    expect(ids).toEqual(events.map((e) => e.event_id));
    const views = groups
      .flatMap((g) => g.counters)
      .reduce((n, c) => n + (c.key.includes(`:${H}:`) ? c.amounts[0]![1] : 0), 0);
    expect(views).toBe(50);
  });

  it('plans a batch again without the ids a concurrent delivery counted first', () => {
    const planner = new CountPlanner(layout, '');
    const byId = new Map<string, CountedEvent>();
    const events = [view('e1', T0), view('e2', T0 + 1), view('e3', T0 + 2)];
    const groups = planner.plan(events, new Map(), T0, byId);
    const item = groups.find((g) => g.group.endsWith(':item'))!;
    const again = planner.replan([item], new Map([[item.group, new Set(['e2'])]]), byId, new Map(), T0);
    expect(again.map((g) => [g.group, g.markers.flatMap((m) => m.ids)])).toEqual([
      [item.group, ['e1', 'e3']],
    ]);
    expect(again[0]!.counters.map((c) => c.amounts)).toEqual([[['item_views', 2]], [['item_views', 2]]]);
  });
});
