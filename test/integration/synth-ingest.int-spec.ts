// The synthetic streams go through the real ingestion path: generated (small preset), produced to Kafka
// with the producer SDK, stored by apps/ingest (child process) in ClickHouse and Redis.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validate, type BehaviourEvent, type CatalogueItem } from '@mmctr/contracts';
import { onlineStoreFromConfig, referenceHistory } from '@mmctr/online-store';
import { SMALL_PRESET, generate, readJsonl, resolveConfig } from '@mmctr/synth';
import { ingestSuite } from '../support/ingest/suite';

jest.setTimeout(600_000);

describe('synthetic streams through ingestion', () => {
  const suite = ingestSuite();
  const { config } = suite;
  const dir = mkdtempSync(join(tmpdir(), 'mmctr-synth-'));

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('stores every generated event once and builds the same histories', async () => {
    const names = await suite.names('synth');
    const ch = suite.clickhouse();
    // A seed of its own and an id prefix: the shared tables already hold other runs of the small preset.
    await generate(resolveConfig(SMALL_PRESET, { seed: 9001 }), { outDir: dir });
    const tag = (id: string) => `${names.prefix}${id}`;
    const events = readJsonl<BehaviourEvent>(join(dir, 'events.jsonl')).map((e) => ({
      ...e,
      event_id: tag(e.event_id),
      user_id: tag(e.user_id),
      item_id: tag(e.item_id),
      request_id: tag(e.request_id),
    }));
    const items = readJsonl<CatalogueItem>(join(dir, 'items.jsonl')).map((i) => ({
      ...i,
      item_id: tag(i.item_id),
    }));
    expect(events.every((e) => validate('event', e).ok)).toBe(true);
    expect(items.every((i) => validate('item', i).ok)).toBe(true);

    const ingest = await suite.startIngest(names);
    const producer = suite.producer(names);
    await producer.sendItems(items);
    await producer.sendEvents(events);

    const count = async (sql: string) =>
      Number((await ch.query<{ n: string }>(sql, { p: `${names.prefix}%` }))[0]?.n);
    await ingest.waitFor(
      async () =>
        (await count('SELECT count() AS n FROM events_dedup WHERE event_id LIKE {p:String}')) >=
        events.length,
      'all synthetic events stored',
      300_000,
    );
    expect(await count('SELECT count() AS n FROM events_dedup WHERE event_id LIKE {p:String}')).toBe(
      events.length,
    );
    expect(await count('SELECT uniqExact(item_id) AS n FROM items WHERE item_id LIKE {p:String}')).toBe(
      items.length,
    );
    const byType = await ch.query<{ type: string; n: string }>(
      'SELECT type, count() AS n FROM events_dedup WHERE event_id LIKE {p:String} GROUP BY type ORDER BY type',
      { p: `${names.prefix}%` },
    );
    const expected = new Map<string, number>();
    for (const e of events) expected.set(e.type, (expected.get(e.type) ?? 0) + 1);
    expect(Object.fromEntries(byType.map((r) => [r.type, Number(r.n)]))).toEqual(
      Object.fromEntries(expected),
    );

    // Histories in Redis equal the reference computed from the generated clicks.
    const store = onlineStoreFromConfig(suite.redis(), {
      ...config,
      REDIS_KEY_PREFIX: names.env.REDIS_KEY_PREFIX,
    });
    const reference = referenceHistory(events, { types: ['click'], cap: config.ONLINE_HISTORY_CAP });
    let checked = 0;
    for (const [userId, want] of reference) {
      expect(await store.getHistory(userId)).toEqual(want);
      if (++checked === 200) break;
    }
    expect(checked).toBeGreaterThan(50);
  });
});
