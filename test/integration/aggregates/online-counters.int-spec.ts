// Windowed aggregate counters on the real stack: Kafka -> apps/ingest (a child process running the
// demo repository plus aggregations) -> Redis counters, checked against ClickHouse counts of the same
// windows. Own database, topics and key prefix per test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import { AggregateCounters, bucketStart, smoothedRatio, tierFor } from '@mmctr/aggregates';
import { FeatureStoreRepository, applyRepository, durationMs, type Aggregation } from '@mmctr/feature-repo';
import { OnlineStore } from '@mmctr/online-store';
import { writeRepo } from '../../support/feature-repo/ad-platform';
import { rng } from '../../support/ingest/events';
import type { IsolatedNames } from '../../support/ingest/fixtures';
import { sleep } from '../../support/ingest/ingest-process';
import { ingestSuite } from '../../support/ingest/suite';
import type { TestDatabase } from '../../support/ingest/test-database';
import { asBatch, countedEvents } from '../../support/aggregates/counted-events';
import { demoWithAggregations } from './demo-aggregations';

jest.setTimeout(600_000);

const ITEMS = 30;
const USERS = 50;
const CATEGORIES = 5;
const M = 60_000;
const H = 3_600_000;
const D = 86_400_000;

describe('windowed aggregate counters (Kafka -> ingest -> Redis, against ClickHouse)', () => {
  const suite = ingestSuite();
  const repo = demoWithAggregations();
  const dir = mkdtempSync(join(tmpdir(), 'mmctr-aggregates-'));
  const repoPath = writeRepo(dir, 'demo-aggregates', repo);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function setUp(tag: string) {
    const names = await suite.names(tag);
    const db = await suite.database();
    await db.migrate();
    const applied = await applyRepository(new FeatureStoreRepository(db.clickhouse, db.name), repo);
    expect(applied.status).toBe('applied');
    const env = { FEATURE_REPO: repoPath, CLICKHOUSE_DATABASE: db.name };
    const prefix = names.env.REDIS_KEY_PREFIX;
    const store = new OnlineStore(suite.redis(), {
      keyPrefix: prefix,
      types: ['click'],
      cap: 100,
      historyTtlS: 0,
    });
    const counters = new AggregateCounters(suite.redis(), repo, {
      keyPrefix: prefix,
      entityHash: { key: (_entity, id) => store.itemKey(id), decode: (_entity, raw) => raw },
    });
    return { names, db, env, store, counters };
  }

  const item = (names: IsolatedNames, i: number) => `${names.prefix}i${i}`;

  /** The catalogue, each item in category c<i mod 5>: user_category_clicks reads it from the item hash. */
  async function sendCatalogue(names: IsolatedNames, store: OnlineStore): Promise<void> {
    const items: CatalogueItem[] = Array.from({ length: ITEMS }, (_, i) => ({
      schema_version: 1,
      item_id: item(names, i),
      ts_ms: Date.now() - 30 * D,
      title: `item ${i}`,
      category: `c${i % CATEGORIES}`,
    }));
    await suite.producer(names).sendItems(items);
    const ids = items.map((x) => x.item_id);
    const deadline = Date.now() + 120_000;
    while ((await store.getItems(ids)).some((x) => x === null)) {
      if (Date.now() > deadline) throw new Error('catalogue not in Redis');
      await sleep(200);
    }
  }

  /** setUp, then ingest started on it (`extraEnv` besides) and the catalogue sent and in Redis. */
  async function setUpIngesting(tag: string, extraEnv: Record<string, string> = {}) {
    const setup = await setUp(tag);
    const ingest = await suite.startIngest(setup.names, { ...setup.env, ...extraEnv });
    await sendCatalogue(setup.names, setup.store);
    return { ...setup, ingest };
  }

  /**
   * `n` impressions and clicks before now: a third in the last hour (the 1m tier), most over the last
   * days, a tenth older than any window (ingest must not count them into live buckets).
   */
  function makeEvents(names: IsolatedNames, n: number, seed: number, now = Date.now()): BehaviourEvent[] {
    const rand = rng(seed);
    return Array.from({ length: n }, (_, i) => {
      const r = rand();
      const age = r < 0.3 ? rand() * 55 * M : r < 0.9 ? rand() * 6.5 * D : 7 * D + rand() * D;
      return {
        schema_version: 1,
        event_id: `${names.prefix}e${i}`,
        type: rand() < 0.7 ? 'impression' : 'click',
        ts_ms: now - 1 - Math.floor(age),
        user_id: `${names.prefix}u${Math.floor(rand() * USERS)}`,
        item_id: item(names, Math.floor(rand() * ITEMS)),
        request_id: `${names.prefix}r${i}`,
        position: i % 10,
        value: Math.round(rand() * 1_000) / 100,
        context: { device: rand() < 0.5 ? 'mobile' : 'desktop', placement: 'feed', country: 'DE' },
      };
    });
  }

  const stored = async (db: TestDatabase): Promise<number> =>
    Number((await db.clickhouse.query<{ n: string }>('SELECT uniqExact(event_id) AS n FROM events'))[0]?.n);

  /** `[from, to)` of an aggregation's window as of `t` (the documented edge rule: closed buckets only). */
  function range(a: Aggregation, window: string, t: number): { from: number; to: number } {
    const ms = durationMs(window);
    const c = bucketStart(t, durationMs(tierFor(ms, a.granularity!).bucket));
    return { from: c - ms, to: c };
  }

  const agg = (name: string): Aggregation => repo.aggregations!.find((a) => a.name === name)!;

  /** Per item: ClickHouse's count (or sum) of `type` events in the window, de-duplicated by event_id. */
  async function chPerItem(
    db: TestDatabase,
    type: string,
    r: { from: number; to: number },
    what = 'count()',
    where = '',
  ) {
    const rows = await db.clickhouse.query<{ item_id: string; v: number }>(
      `SELECT item_id, ${what} AS v FROM events_dedup
       WHERE type = {type:String} AND ts_ms >= {from:UInt64} AND ts_ms < {to:UInt64} ${where} GROUP BY item_id`,
      { type, ...r },
    );
    return new Map(rows.map((x) => [x.item_id, Number(x.v)]));
  }

  /** Every item's and every user x category's counters equal ClickHouse over every window, as of t. */
  async function expectCountersExact(
    db: TestDatabase,
    names: IsolatedNames,
    counters: AggregateCounters,
    t = Date.now(),
  ) {
    let checked = 0;
    const ctr = agg('item_ctr');
    for (const w of ['1h', '24h', '7d']) {
      const r = range(agg('item_impressions'), w, t);
      const [impressions, clicks] = await Promise.all([
        chPerItem(db, 'impression', r),
        chPerItem(db, 'click', r),
      ]);
      for (let i = 0; i < ITEMS; i++) {
        const id = item(names, i);
        const imp = impressions.get(id) ?? 0;
        const clk = clicks.get(id) ?? 0;
        expect((await counters.values('item_impressions', [id], t)).get(w)).toBe(imp);
        expect((await counters.values('item_clicks', [id], t)).get(w)).toBe(clk);
        const { smoothing = [0, 0] } = ctr.op as Extract<Aggregation['op'], { ratio: unknown }>;
        expect((await counters.values('item_ctr', [id], t)).get(w)).toBeCloseTo(
          smoothedRatio(clk, imp, smoothing, ctr.default!),
          12,
        );
        checked += imp + clk;
      }
    }
    const value = await chPerItem(
      db,
      'impression',
      range(agg('item_mobile_value'), '24h', t),
      'sum(value)',
      "AND device = 'mobile'",
    );
    for (let i = 0; i < ITEMS; i++) {
      const id = item(names, i);
      expect((await counters.values('item_mobile_value', [id], t)).get('24h')).toBeCloseTo(
        value.get(id) ?? 0,
        6,
      );
    }
    const r = range(agg('user_category_clicks'), '7d', t);
    const pairs = await db.clickhouse.query<{ user_id: string; category: string; n: string }>(
      `SELECT user_id, category, count() AS n
       FROM (SELECT user_id, item_id FROM events_dedup
             WHERE type = 'click' AND ts_ms >= {from:UInt64} AND ts_ms < {to:UInt64})
       ANY LEFT JOIN (SELECT item_id, argMax(category, ts_ms) AS category FROM items GROUP BY item_id)
       USING item_id
       GROUP BY user_id, category`,
      r,
    );
    expect(pairs.length).toBeGreaterThan(USERS);
    for (const p of pairs) {
      const v = await counters.values('user_category_clicks', [p.user_id, p.category], t);
      expect([p.user_id, p.category, v.get('7d')]).toEqual([p.user_id, p.category, Number(p.n)]);
    }
    expect(checked).toBeGreaterThan(0);
  }

  /**
   * Ingest writes Redis after ClickHouse and before committing: once ClickHouse has every row, the
   * counters follow within moments. Exact from then on (a later redelivery must not change them).
   */
  async function expectCountersEventuallyExact(
    db: TestDatabase,
    names: IsolatedNames,
    counters: AggregateCounters,
    t?: number,
  ) {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        return await expectCountersExact(db, names, counters, t);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(1_000);
      }
    }
  }

  it('counts every event exactly once when the same events are delivered again', async () => {
    const { names, db, counters, ingest } = await setUpIngesting('agg-redeliver');
    const events = makeEvents(names, 4_000, 3);
    const producer = suite.producer(names);
    await producer.sendEvents(events);
    // Delivered again (a producer retry), in other batches and orders: the same event ids.
    const again = [...events.slice(0, 1_500).reverse(), ...events.slice(1_000, 2_500)];
    await producer.sendEvents(again);
    await ingest.waitFor(
      async () =>
        (await ingest.metric('mmctr_ingest_rows_stored_total')) >= ITEMS + events.length + again.length,
      'every delivery stored',
    );
    await expectCountersEventuallyExact(db, names, counters);

    // The same batch applied again in process (a redelivery after a crash between Redis and the commit).
    const accepted = events.slice(0, 2_000).map(({ context, ...e }) => ({ ...e, ...context }));
    expect(await counters.record(asBatch(accepted))).toBe(0);
    await expectCountersExact(db, names, counters);
  });

  it('replays month-old events with a minimum TTL: counted exactly as of their time, keys kept that long', async () => {
    const { names, db, counters, ingest } = await setUpIngesting('agg-replay', {
      AGGREGATE_MIN_TTL_MS: String(H),
    });
    // Without the minimum TTL, ingest would drop every one of these buckets as already expired.
    const t = Date.now() - 30 * D;
    const events = makeEvents(names, 2_000, 5, t);
    const writtenFrom = Date.now();
    await suite.producer(names).sendEvents(events);
    await ingest.waitFor(
      async () => (await ingest.metric('mmctr_ingest_rows_stored_total')) >= ITEMS + events.length,
      'every event stored',
    );
    await expectCountersEventuallyExact(db, names, counters, t);
    const keys = await suite.redis().keys(`${names.env.REDIS_KEY_PREFIX}agg:*`);
    expect(keys.some((k) => k.includes(':seen:'))).toBe(true);
    const left = await Promise.all(keys.map((k) => suite.redis().pttl(k)));
    const elapsed = Date.now() - writtenFrom;
    for (const ms of left) expect(ms).toBeGreaterThan(H - elapsed - 1_000);
    for (const ms of left) expect(ms).toBeLessThanOrEqual(H);
  });

  it('counts a click redelivered after its item changed category once, under the category it first had', async () => {
    const { names, store, counters, ingest } = await setUpIngesting('agg-recategorised');
    const id = item(names, 0); // category c0
    const user = `${names.prefix}u0`;
    const click = (eventId: string): BehaviourEvent => ({
      schema_version: 1,
      event_id: eventId,
      type: 'click',
      ts_ms: Date.now() - 2 * H, // a closed hour bucket of the 7d window
      user_id: user,
      item_id: id,
      request_id: `${names.prefix}r-${eventId}`,
      position: 0,
      value: 1,
      context: { device: 'mobile', placement: 'feed', country: 'DE' },
    });
    const clicks = async (category: string) =>
      (await counters.values('user_category_clicks', [user, category], Date.now())).get('7d');
    const first = click(`${names.prefix}e-first`);
    const producer = suite.producer(names);
    await producer.sendEvents([first]);
    await ingest.waitFor(async () => (await clicks('c0')) === 1, 'the click counted under c0');

    await producer.sendItems([
      { schema_version: 1, item_id: id, ts_ms: Date.now() - 29 * D, title: 'item 0', category: 'moved' },
    ]);
    await ingest.waitFor(
      async () => (await store.getItems([id]))[0]?.category === 'moved',
      'the item re-categorised online',
    );
    // The same click again (a producer retry), then a new one of the same user: events are keyed by
    // user, so once the new one is counted the redelivery before it has been through the counters.
    await producer.sendEvents([first, click(`${names.prefix}e-next`)]);
    await ingest.waitFor(async () => (await clicks('moved')) === 1, 'the next click counted under moved');
    expect([await clicks('c0'), await clicks('moved')]).toEqual([1, 1]);
    // And in process: the batch applied again (a crash between Redis and the commit) adds nothing.
    const { context, ...rest } = first;
    const accepted = { ...rest, ...context } as unknown as Parameters<AggregateCounters['record']>[0][number];
    expect(await counters.record([accepted])).toBe(0);
    expect([await clicks('c0'), await clicks('moved')]).toEqual([1, 1]);
  });

  it('counts, of a batch partly counted before, only the events not counted yet', async () => {
    const { names, counters } = await setUp('agg-partial');
    const now = Date.now();
    const id = (k: string, i: number) => `${names.prefix}${k}${i}`;
    // Several events per counter and marker (3 items, 4 users, one closed hour): the batch is summed.
    const events = countedEvents(90, {
      id: (k, i) => id(k === 'e' ? 'p' : k, i),
      tsMs: (i) => now - 2 * H - i * 1_000,
      users: 4,
      items: 3,
      clickEvery: 3,
      mobileEvery: 2,
      valueDivisor: 4,
    });
    // (event, key group) pairs: an impression counts under its item, a click under its item and user.
    const pairs = (es: typeof events) => es.reduce((n, e) => n + (e.type === 'click' ? 2 : 1), 0);
    const even = events.filter((_, i) => i % 2 === 0);
    expect(await counters.record(asBatch(even), now)).toBe(pairs(even));
    // The whole batch: every call of it finds ids counted already, and counts only the others.
    expect(await counters.record(asBatch(events), now)).toBe(pairs(events) - pairs(even));
    expect(await counters.record(asBatch(events), now)).toBe(0);
    for (let i = 0; i < 3; i++) {
      const mine = events.filter((e) => e.item_id === id('i', i));
      const of = (type: string) => mine.filter((e) => e.type === type);
      expect((await counters.values('item_impressions', [id('i', i)], now)).get('24h')).toBe(
        of('impression').length,
      );
      expect((await counters.values('item_clicks', [id('i', i)], now)).get('24h')).toBe(of('click').length);
      const mobile = of('impression').filter((e) => e.device === 'mobile');
      expect((await counters.values('item_mobile_value', [id('i', i)], now)).get('24h')).toBeCloseTo(
        mobile.reduce((n, e) => n + e.value, 0),
        9,
      );
    }
    for (let u = 0; u < 4; u++) {
      // No catalogue here: the category is the attribute's default.
      const clicks = events.filter((e) => e.user_id === id('u', u) && e.type === 'click').length;
      expect((await counters.values('user_category_clicks', [id('u', u), ''], now)).get('7d')).toBe(clicks);
    }
  });

  it('counts every event exactly once across a SIGKILL of ingest mid-stream and a restart', async () => {
    const { names, db, env, counters, ingest: first } = await setUpIngesting('agg-kill');
    const events = makeEvents(names, 20_000, 5);
    const producer = suite.producer(names);
    const producing = (async () => {
      for (let i = 0; i < events.length; i += 1_000) {
        await producer.sendEvents(events.slice(i, i + 1_000));
        await sleep(100);
      }
    })();
    await first.waitFor(async () => (await stored(db)) > 0, 'first rows');
    await first.kill('SIGKILL');
    expect(await stored(db)).toBeLessThan(events.length); // it really was mid-stream

    const restarted = await suite.startIngest(names, env);
    await producing;
    await restarted.waitFor(async () => (await stored(db)) >= events.length, 'all events stored');
    await expectCountersEventuallyExact(db, names, counters);
  });
});
