// An additive feature-repository change rolled out under load, on the real stack: apps/ingest (child
// processes) consumes ad-platform events from Kafka into ClickHouse while a producer streams without
// pause; v2 (a new optional attribute with a default, a new event type) is applied mid-stream; ingest
// keeps consuming under v1, then restarts on v2 while the producer goes on. Every event lands exactly
// once. Ingest and the scorer refuse a repository version the database never received.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Producer } from 'kafkajs';
import { DLQ_HEADERS } from '@mmctr/contracts';
import {
  DEFAULT_FEATURE_REPO_PATH,
  FeatureStoreRepository,
  applyRepository,
  loadFeatureRepo,
} from '@mmctr/feature-repo';
import { startScorer } from '../../../apps/scorer/test/support/scorer-harness';
import { adPlatform, additive, writeRepo } from '../../support/feature-repo/ad-platform';
import { sleep } from '../../support/ingest/ingest-process';
import { readTopic } from '../../support/ingest/read-topic';
import { ingestSuite } from '../../support/ingest/suite';
import type { IsolatedNames } from '../../support/ingest/fixtures';

jest.setTimeout(600_000);

const T0 = Date.UTC(2026, 0, 1);
const BATCH = 20;

type Event = Record<string, unknown> & {
  event_id: string;
  type: string;
  placement_id?: string;
  watch_ms?: number;
};

/** Event `n` as a producer on repository v1 (four types) or v2 (placement_id on some impressions, video_view) sends it. */
function makeEvent(id: string, n: number, v2: boolean): Event {
  const base = {
    schema_version: 1,
    event_id: `${id}-e${n}`,
    ts_ms: T0 + n * 1_000,
    user_id: `u${n % 17}`,
    ad_id: `ad${n % 7}`,
  };
  switch (n % (v2 ? 6 : 4)) {
    case 0:
      return { ...base, type: 'ad_impression', auction_id: `a${n}`, slot: n % 5 };
    case 1:
      return { ...base, type: 'ad_click', auction_id: `a${n - 1}` };
    case 2:
      return { ...base, type: 'install', auction_id: `a${n - 2}` };
    case 3:
      return { ...base, type: 'purchase', revenue: 1.5 };
    case 4:
      return { ...base, type: 'ad_impression', auction_id: `a${n}`, placement_id: `p${n}` };
    default:
      return { ...base, type: 'video_view', watch_ms: n };
  }
}

/** A producer that sends a batch of events every few milliseconds until stopped, keeping what it sent. */
function streamEvents(producer: Producer, names: IsolatedNames) {
  const sent: Event[] = [];
  let v2 = false;
  let running = true;
  const loop = (async () => {
    while (running) {
      const batch = Array.from({ length: BATCH }, (_, i) => makeEvent(names.id, sent.length + i, v2));
      await producer.send({
        topic: names.env.KAFKA_TOPIC_EVENTS,
        messages: batch.map((e) => ({ key: e.user_id as string, value: JSON.stringify(e) })),
      });
      sent.push(...batch);
      await sleep(50);
    }
  })();
  return {
    sent,
    /** From the next batch on, events as a producer on v2 sends them. */
    switchToV2: () => (v2 = true),
    /** Waits until `n` more events were sent than now. */
    async more(n: number): Promise<void> {
      const until = sent.length + n;
      while (sent.length < until) await sleep(50);
    },
    async stop(): Promise<void> {
      running = false;
      await loop;
    },
  };
}

describe('an additive repository change applied while ingest consumes', () => {
  const suite = ingestSuite();
  const v1 = adPlatform('ads-1');
  const v2 = adPlatform('ads-2', additive);
  let producer: Producer;
  let work: string;

  beforeAll(async () => {
    producer = suite.kafka().producer();
    await producer.connect();
    work = mkdtempSync(`${tmpdir()}/apply-while-ingesting-`);
  });
  afterAll(async () => {
    await producer.disconnect();
    rmSync(work, { recursive: true, force: true });
  });

  /** This test's names and database (migrated, v1 applied), and ingest's environment on `repoDir`. */
  async function setUp(tag: string) {
    const names = await suite.names(tag);
    const db = await suite.database();
    await db.migrate();
    const store = new FeatureStoreRepository(db.clickhouse, db.name);
    expect((await applyRepository(store, v1)).status).toBe('applied');
    const env = (repoDir: string) => ({
      FEATURE_REPO: repoDir,
      CLICKHOUSE_DATABASE: db.name,
      KAFKA_TOPIC_ENTITY_PATTERN: `mmctr.test.${names.id}.{table}`,
    });
    return { names, db, store, env };
  }

  it('keeps consuming under v1 while v2 is applied, then restarts on v2: every event exactly once, old rows read the default', async () => {
    const { names, db, store, env } = await setUp('apply-live');
    const v1Dir = writeRepo(work, 'v1', v1);
    const v2Dir = writeRepo(work, 'v2', v2);
    const ch = db.clickhouse;
    const stored = async () =>
      Number((await ch.query<{ n: string }>('SELECT count() AS n FROM ad_events'))[0]?.n);
    const storedAtLeast = async (n: number) => {
      while ((await stored()) < n) await sleep(250);
    };

    const first = await suite.startIngest(names, env(v1Dir));
    const stream = streamEvents(producer, names);
    await storedAtLeast(200);
    const before = await ch.query<{ event_id: string }>('SELECT DISTINCT event_id FROM ad_events');

    const applied = await applyRepository(store, v2);
    expect(applied.status).toBe('applied');
    expect(applied.executed).toHaveLength(3);
    const atApply = stream.sent.length;
    // The new event type while ingest still runs v1: its contract does not know it yet.
    const early = makeEvent(names.id, 1_000_001, true);
    await producer.send({
      topic: names.env.KAFKA_TOPIC_EVENTS,
      messages: [{ value: JSON.stringify(early) }],
    });
    await stream.more(200);
    await storedAtLeast(atApply + 200);
    expect(await first.metric('mmctr_ingest_rows_rejected_total')).toBe(0);

    // Rolling restart: stop, start on v2; the producer goes on meanwhile.
    await first.stop();
    await stream.more(BATCH * 2);
    await suite.startIngest(names, env(v2Dir));
    stream.switchToV2();
    const bad = { ...makeEvent(names.id, 1_000_000, true), placement_id: 7 };
    await producer.send({ topic: names.env.KAFKA_TOPIC_EVENTS, messages: [{ value: JSON.stringify(bad) }] });
    await stream.more(300);
    await stream.stop();
    const { sent } = stream;
    await storedAtLeast(sent.length);

    // Exactly once: redelivery around the restart may duplicate raw rows; FINAL collapses them.
    const [totals] = await ch.query<{ rows: string; ids: string }>(
      'SELECT count() AS rows, uniqExact(event_id) AS ids FROM ad_events FINAL',
    );
    expect({ rows: Number(totals?.rows), ids: Number(totals?.ids) }).toEqual({
      rows: sent.length,
      ids: sent.length,
    });
    const ids = await ch.query<{ event_id: string }>(
      'SELECT event_id FROM ad_events FINAL ORDER BY event_id',
    );
    expect(ids.map((r) => r.event_id)).toEqual(sent.map((e) => e.event_id).sort());
    const byType = await ch.query<{ type: string; n: string }>(
      'SELECT toString(type) AS type, count() AS n FROM ad_events FINAL GROUP BY type',
    );
    const expectedTypes: Record<string, number> = {};
    for (const e of sent) expectedTypes[e.type] = (expectedTypes[e.type] ?? 0) + 1;
    expect(Object.fromEntries(byType.map((r) => [r.type, Number(r.n)]))).toEqual(expectedTypes);
    expect(expectedTypes.video_view).toBeGreaterThan(0);

    // Rows stored before the apply read the new columns' defaults; impressions carry placement_id where
    // sent and its default elsewhere (whichever ingest wrote them); video views carry watch_ms.
    const rows = await ch.query<{ event_id: string; placement_id: string; watch_ms: string }>(
      'SELECT event_id, placement_id, watch_ms FROM ad_events FINAL',
    );
    const byId = new Map(
      rows.map((r) => [r.event_id, { placement_id: r.placement_id, watch_ms: r.watch_ms }]),
    );
    expect(before.length).toBeGreaterThanOrEqual(200);
    for (const { event_id } of before)
      expect([event_id, byId.get(event_id)]).toEqual([event_id, { placement_id: 'none', watch_ms: '0' }]);
    const impressions = sent.filter((e) => e.type === 'ad_impression');
    expect(impressions.map((e) => byId.get(e.event_id)!.placement_id)).toEqual(
      impressions.map((e) => e.placement_id ?? 'none'),
    );
    expect(impressions.filter((e) => e.placement_id !== undefined).length).toBeGreaterThan(0);
    expect(sent.map((e) => byId.get(e.event_id)!.watch_ms)).toEqual(sent.map((e) => String(e.watch_ms ?? 0)));

    // Dead-lettered: only the two deliberate ones, each for the repository then running.
    const letters = await readTopic(suite.kafka(), names.env.KAFKA_TOPIC_DLQ, 2);
    expect(letters).toHaveLength(2);
    const reasons = Object.fromEntries(
      letters.map((l) => [(JSON.parse(l.value) as Event).event_id, l.headers[DLQ_HEADERS.reason]]),
    );
    expect(reasons).toEqual({
      [early.event_id]:
        'schema: unknown event type "video_view" (expected one of: ad_impression, ad_click, install, purchase)',
      [bad.event_id]: `schema: attribute 'placement_id': expected string, got number 7`,
    });
  });

  it('refuses to start on v2 where only v1 was applied, naming the missing columns and the command', async () => {
    const { names, db, env } = await setUp('apply-missing');
    const v2Dir = writeRepo(work, 'v2-unapplied', v2);
    await expect(suite.startIngest(names, env(v2Dir))).rejects.toThrow(
      new RegExp(
        `table ${db.name}\\.ad_events has no column 'placement_id' \\(attribute of event type 'ad_impression'\\), ` +
          `'watch_ms' \\(attribute of event type 'video_view'\\): run \`mmctr features apply\``,
      ),
    );
  });

  it('ingest and the scorer refuse a version never applied though its columns exist, naming repository, version, database and command', async () => {
    const { names, db, env } = await setUp('apply-ledger');
    // The demo repository (applied by migrate) under a version the ledger does not record.
    const unrecorded = writeRepo(work, 'demo-fs-next', {
      ...loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH),
      version: 'fs-next',
    });
    const message =
      `feature repository demo fs-next is not applied to database ${db.name} (last applied: fs-2): ` +
      `run mmctr features apply ${unrecorded}`;
    await expect(suite.startIngest(names, env(unrecorded))).rejects.toThrow(message);
    await expect(startScorer({ ...env(unrecorded), LOG_LEVEL: 'warn' })).rejects.toThrow(message);
  });
});
