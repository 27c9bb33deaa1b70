// The ad-platform repository end to end on the real stack: Kafka -> apps/ingest (a child process
// running with FEATURE_REPO=feature-repos/ad-platform) -> ClickHouse tables created by
// `applyRepository`, and Redis (entity hashes, both behaviour lists). Own database, topics, key prefix.
import { join } from 'node:path';
import type { Producer } from 'kafkajs';
import { DLQ_HEADERS } from '@mmctr/contracts';
import { FeatureStoreRepository, applyRepository, loadFeatureRepo } from '@mmctr/feature-repo';
import { OnlineStore } from '@mmctr/online-store';
import { readTopic } from '../../support/ingest/read-topic';
import { ingestSuite } from '../../support/ingest/suite';
import type { IsolatedNames } from '../../support/ingest/fixtures';

jest.setTimeout(600_000);

const AD_PLATFORM = join(__dirname, '..', '..', '..', 'feature-repos', 'ad-platform');
const T0 = Date.UTC(2026, 0, 1);
const USERS = 20;
const ADS = 10;

describe('ingest with the ad-platform repository (Kafka -> ClickHouse + Redis)', () => {
  const suite = ingestSuite();
  const repo = loadFeatureRepo(AD_PLATFORM);
  let producer: Producer;

  beforeAll(async () => {
    producer = suite.kafka().producer();
    await producer.connect();
  });
  afterAll(() => producer.disconnect());

  /** This test's names, plus where ingest finds the snapshot topics of its entities. */
  async function setUp(tag: string) {
    const names = await suite.names(tag);
    const entityPattern = `mmctr.test.${names.id}.{table}`;
    const db = await suite.database();
    await db.migrate();
    const env = {
      FEATURE_REPO: AD_PLATFORM,
      CLICKHOUSE_DATABASE: db.name,
      KAFKA_TOPIC_ENTITY_PATTERN: entityPattern,
    };
    const topic = (table: string) => entityPattern.replace('{table}', table);
    return { names, db, env, topic };
  }

  const send = (topic: string, values: readonly unknown[]) =>
    producer.send({ topic, messages: values.map((v) => ({ value: JSON.stringify(v) })) });

  const user = (i: number) => `u${i}`;
  const ad = (i: number) => `ad${i}`;

  function events(names: IsolatedNames) {
    const out: Record<string, unknown>[] = [];
    const base = (n: number, type: string, u: number) => ({
      schema_version: 1,
      event_id: `${names.id}-e${n}`,
      type,
      ts_ms: T0 + n * 1_000,
      user_id: user(u),
      ad_id: ad(n % ADS),
    });
    for (let n = 0; n < 400; n++) {
      const u = n % USERS;
      if (n % 4 === 0)
        // Request context nested under `context`, the candidate's slot at the top level, one unknown
        // attribute (kept: not validated, not stored).
        out.push({
          ...base(n, 'ad_impression', u),
          auction_id: `a${n}`,
          slot: n % 5,
          context: { network: 'wifi', floor_price: 0.5 },
          sdk_build: 'x',
        });
      else if (n % 4 === 1) out.push({ ...base(n, 'ad_click', u), auction_id: `a${n - 1}` });
      else if (n % 4 === 2) out.push({ ...base(n, 'install', u), auction_id: `a${n - 2}` });
      else out.push({ ...base(n, 'purchase', u), revenue: 1.25 });
    }
    return out;
  }

  it('stores events and entity snapshots in the repository tables and Redis, dead-letters a wrong type', async () => {
    const { names, db, env, topic } = await setUp('ads-e2e');
    const applied = await applyRepository(new FeatureStoreRepository(db.clickhouse, db.name), repo);
    expect(applied.status).toBe('applied');
    await suite.startIngest(names, env);

    const sent = events(names);
    const bad = { ...sent[0], event_id: `${names.id}-bad`, slot: 'x' };
    await send(names.env.KAFKA_TOPIC_EVENTS, [...sent, bad]);
    // Two versions of every profile, the newer one first: the newest ts_ms must win in Redis.
    const profile = (i: number, v: number) => ({
      schema_version: 1,
      user_id: user(i),
      ts_ms: T0 + v,
      age_band: v === 2 ? '25-34' : '18-24',
      interests: v === 2 ? ['games', 'travel'] : ['games'],
      account_age_days: 10 * v,
      is_premium: v === 2,
    });
    const users = Array.from({ length: USERS }, (_, i) => i);
    await send(
      topic('user_profiles'),
      users.map((i) => profile(i, 2)),
    );
    await send(
      topic('user_profiles'),
      users.map((i) => profile(i, 1)),
    );
    await send(topic('advertisers'), [
      { schema_version: 1, advertiser_id: 'adv1', ts_ms: T0, industry: 'retail' },
    ]);

    const letters = await readTopic(suite.kafka(), names.env.KAFKA_TOPIC_DLQ, 1);
    expect(letters).toHaveLength(1);
    expect(letters[0]!.headers[DLQ_HEADERS.reason]).toBe(
      `schema: attribute 'slot': expected int, got string "x"`,
    );

    const ch = db.clickhouse;
    const count = async (sql: string) => Number((await ch.query<{ n: string }>(sql))[0]?.n);
    await waitUntil(async () => (await count('SELECT count() AS n FROM ad_events')) >= sent.length);
    await waitUntil(async () => (await count('SELECT count() AS n FROM user_profiles')) >= 2 * USERS);
    const byType = await ch.query<{ type: string; n: string }>(
      'SELECT type, count() AS n FROM ad_events FINAL GROUP BY type ORDER BY type',
    );
    expect(Object.fromEntries(byType.map((r) => [r.type, Number(r.n)]))).toEqual({
      ad_impression: 100,
      ad_click: 100,
      install: 100,
      purchase: 100,
    });
    // Defaults fill what a message leaves out; a column its type does not declare reads the zero.
    const [imp] = await ch.query<Record<string, unknown>>(
      `SELECT auction_id, slot, network, floor_price, app_bundle, revenue FROM ad_events WHERE event_id = '${names.id}-e4'`,
    );
    expect(imp).toEqual({
      auction_id: 'a4',
      slot: '4',
      network: 'wifi',
      floor_price: 0.5,
      app_bundle: '',
      revenue: 0,
    });
    const [purchase] = await ch.query<Record<string, unknown>>(
      `SELECT auction_id, revenue, network FROM ad_events WHERE event_id = '${names.id}-e3'`,
    );
    expect(purchase).toEqual({ auction_id: '', revenue: 1.25, network: '' });
    expect(await count('SELECT count() AS n FROM user_profiles FINAL')).toBe(2 * USERS);
    expect(await count('SELECT count() AS n FROM advertisers')).toBe(1);

    // Redis: the newest profile per user, values JSON-encoded; both behaviour lists.
    const redis = suite.redis();
    const prefix = names.env.REDIS_KEY_PREFIX;
    await waitUntil(async () => (await redis.hget(`${prefix}ent:advertiser:adv1`, 'industry')) !== null);
    expect(await redis.hgetall(`${prefix}ent:user:u3`)).toEqual({
      ts_ms: String(T0 + 2),
      age_band: '"25-34"',
      gender: '""',
      interests: '["games","travel"]',
      account_age_days: '20',
      lifetime_spend: '0',
      is_premium: 'true',
    });
    expect(await redis.hgetall(`${prefix}ent:advertiser:adv1`)).toEqual({
      ts_ms: String(T0),
      industry: '"retail"',
      quality_score: '0.5',
    });
    const store = new OnlineStore(redis, { keyPrefix: prefix, types: [], cap: 100, historyTtlS: 0 });
    // u1 acts in events 1, 21, 41, ...: clicks are n % 4 == 1, installs 2, purchases 3.
    const clicks = sent.filter((e) => e.type === 'ad_click' && e.user_id === 'u1');
    expect((await store.getHistory('u1')).map((h) => h.item_id)).toEqual(
      clicks.map((e) => e.ad_id).reverse(),
    );
    const conversions = sent.filter(
      (e) => ['install', 'purchase'].includes(e.type as string) && e.user_id === 'u2',
    );
    expect(await redis.zcard(`${prefix}hist:conversion_history:u2`)).toBe(conversions.length);
    expect(await redis.zcard(`${prefix}hist:conversion_history:u1`)).toBe(0);
  });

  it('refuses to start when a declared attribute has no column, naming table and column', async () => {
    const { names, db, env } = await setUp('ads-missing');
    await applyRepository(new FeatureStoreRepository(db.clickhouse, db.name), repo);
    await db.command(`ALTER TABLE ${db.name}.ad_events DROP COLUMN floor_price`);
    await expect(suite.startIngest(names, env)).rejects.toThrow(
      new RegExp(
        `table ${db.name}\\.ad_events has no column 'floor_price' \\(attribute of event type 'ad_impression'\\): run \`mmctr features apply\``,
      ),
    );
  });
});

async function waitUntil(cond: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 500));
  }
}
