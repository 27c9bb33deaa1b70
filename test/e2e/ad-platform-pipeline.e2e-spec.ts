// The ad-platform repository through the whole real path: a fresh database with the repository applied
// (migrations + `features apply`); a seeded generator's profiles, advertisers, campaigns, ads and six
// days of impressions, clicks, installs and purchases produced to Kafka with a few redelivered and
// malformed messages; apps/ingest (a child process) storing them in ClickHouse and Redis; `mmctr-train`
// building the point-in-time set, training a tiny model, exporting, registering and promoting it; the
// scorer serving it to test-period requests replayed through POST /v1/score; the score-log sink
// writing score_log; and `mmctr-train parity` recomputing every served CTR from it, failing on a
// tampered one.
import type { Producer } from 'kafkajs';
import { uniqueName } from '../support/clients';
import { AD_PLATFORM } from '../support/feature-repo/ad-platform';
import {
  ENTITY_TABLES,
  adPlatformData,
  replayRequests,
  type AdEvent,
  type EntityTable,
} from '../support/feature-repo/ad-platform-data';
import type { IsolatedNames } from '../support/ingest/fixtures';
import { deleteTopics } from '../support/kafka-group';
import * as pipeline from '../support/pipeline-e2e';
import { expectParity } from '../support/replay-check';
import { expectTamperedCtrFails } from '../support/tampered-parity';

// One step per test, each on the state the previous one left (ingest, train, serve, check).
jest.setTimeout(150_000);

const SIZE = { users: 300, ads: 200, impressions: 3000 };
const REQUESTS = 60;
const REDELIVERED = 40;
/** Keys of each entity table. */
const KEYS: Record<EntityTable, string> = {
  user_profiles: 'user_id',
  advertisers: 'advertiser_id',
  campaigns: 'campaign_id',
  ads: 'ad_id',
};

const unknownAd = (c: { item_id: string }) => c.item_id.startsWith('ad-unknown');

describe('the ad-platform repository end to end (Kafka -> ingest -> ClickHouse/Redis -> mmctr-train -> scorer -> score_log -> parity)', () => {
  const entityPattern = `mmctr.test.${uniqueName('ads-e2e').replace(/_/g, '-')}.{table}`;
  const entityTopic = (table: string) => entityPattern.replace('{table}', table);
  const topicOf = (t: 'events' | EntityTable) =>
    t === 'events' ? names.env.KAFKA_TOPIC_EVENTS : entityTopic(t);
  const { ingest, suite, work } = pipeline.declareSuites('mmctr-ads-e2e-', {
    FEATURE_REPO: AD_PLATFORM,
    KAFKA_TOPIC_ENTITY_PATTERN: entityPattern,
  });
  const data = adPlatformData(11, SIZE);
  const requests = replayRequests(data, data.valEndMs, REQUESTS, SIZE.ads);
  let names: IsolatedNames;
  let trained: pipeline.TrainedModel;

  afterAll(async () => {
    await deleteTopics(ingest.kafka(), ENTITY_TABLES.map(entityTopic));
  });

  /** Every message of the data set (some redelivered) and the malformed ones, keyed by their entity. */
  async function produce(producer: Producer): Promise<void> {
    const send = (topic: string, messages: { key: string; value: string }[]) =>
      producer.send({ topic, messages });
    const json = (v: object, key: string) => ({ key, value: JSON.stringify(v) });
    for (const table of ENTITY_TABLES) {
      const rows = data.snapshots[table].map((s) =>
        json({ schema_version: 1, ...s }, s[KEYS[table]] as string),
      );
      await send(entityTopic(table), rows);
    }
    const events = data.events.map((e) => json(e, e.user_id));
    // Redelivery: some events are sent twice, far apart.
    await send(names.env.KAFKA_TOPIC_EVENTS, [...events, ...events.slice(0, REDELIVERED)]);
    for (const m of data.malformed) await send(topicOf(m.topic), [{ key: m.key, value: m.value }]);
  }

  it('ingest stores every valid event and snapshot exactly once and dead-letters the malformed ones with their reasons', async () => {
    names = await ingest.names('ads-e2e');
    await ingest.startIngest(names, {
      FEATURE_REPO: AD_PLATFORM,
      CLICKHOUSE_DATABASE: suite.env.database,
      KAFKA_TOPIC_ENTITY_PATTERN: entityPattern,
    });
    const producer = ingest.kafka().producer();
    await producer.connect();
    try {
      await produce(producer);
    } finally {
      await producer.disconnect();
    }
    const topics = [names.env.KAFKA_TOPIC_EVENTS, ...ENTITY_TABLES.map(entityTopic)];
    await pipeline.waitIngestCaughtUp(ingest.kafka(), names, topics);

    const ch = suite.env.ch;
    const byType = await ch.query<{ type: string; n: string }>(
      'SELECT toString(type) AS type, count() AS n FROM ad_events FINAL GROUP BY type',
    );
    expect(Object.fromEntries(byType.map((r) => [r.type, Number(r.n)]))).toEqual(
      pipeline.countBy(data.events, (e) => e.type),
    );
    for (const table of ENTITY_TABLES) {
      const [row] = await ch.query<{ n: string }>(`SELECT count() AS n FROM ${table} FINAL`);
      expect({ table, rows: Number(row!.n) }).toEqual({ table, rows: data.snapshots[table].length });
    }

    await pipeline.expectDeadLetters(
      ingest.kafka(),
      names,
      data.malformed.map((m) => ({
        label: m.value,
        value: m.value,
        topic: topicOf(m.topic),
        reason: m.reason,
      })),
    );

    // The online store: each user's two sequences in full (under the cap), every profile at its latest version.
    const redis = ingest.redis();
    const prefix = names.env.REDIS_KEY_PREFIX;
    const lists = { clicks: ['ad_click'], conversions: ['install', 'purchase'] };
    const users = Array.from({ length: SIZE.users }, (_, u) => `u${u}`);
    const expected = (types: string[]) =>
      users.map((u) => data.events.filter((e: AdEvent) => e.user_id === u && types.includes(e.type)).length);
    const stored = async (infix: string) =>
      Promise.all(users.map((u) => redis.zcard(`${prefix}hist:${infix}${u}`)));
    expect(await stored('')).toEqual(expected(lists.clicks));
    expect(await stored('conversion_history:')).toEqual(expected(lists.conversions));
    const latest = new Map(data.snapshots.user_profiles.map((p) => [p.user_id as string, p.ts_ms]));
    for (const [user, ts] of latest) {
      expect({ user, ts: Number(await redis.hget(`${prefix}ent:user:${user}`, 'ts_ms')) }).toEqual({
        user,
        ts,
      });
    }
  });

  it('mmctr-train builds the point-in-time set, trains a tiny model, exports, registers and promotes it', async () => {
    // The point-in-time split as given, and the click signal learnt (labels matched on auction, ad and
    // user; the interest in the advertiser's industry joined via the ad); the ONNX graph is the model.
    // The signal is learnt on the split the model was chosen on; the test split holds a few hundred
    // impressions, whose AUC moves by several hundredths with the fitted input scaling alone (quality
    // targets live in bench/, not here): better than chance is what this path check asks of it.
    const impressionTs = data.events.filter((e) => e.type === 'ad_impression').map((e) => e.ts_ms);
    trained = await pipeline.trainCheckAndPromote(
      suite,
      work.path(),
      {
        featureRepo: AD_PLATFORM,
        maxEpochs: 3,
        trainEndMs: data.trainEndMs,
        valEndMs: data.valEndMs,
        impressionTs,
      },
      { val: 0.6, test: 0.5 },
    );
  });

  it('the scorer serves it: replayed test-period requests are answered and logged to score_log', async () => {
    await pipeline.serveAndLog(suite, names, trained.version, requests);
  });

  it('mmctr-train parity recomputes every served CTR within 1e-4', async () => {
    const run = await expectParity(suite.env.database, trained.version, requests);
    // Unknown ads were scored (the declared defaults on both sides), and no entity changed after a request.
    expect(run.result.item_refs.unknown).toBe(requests.filter((r) => r.candidates.some(unknownAd)).length);
    expect(run.result.item_refs.changed_after_request).toBe(0);
  });

  it('mmctr-train parity fails on a logged CTR the logged inputs do not give', async () => {
    await expectTamperedCtrFails(suite.env, trained.version, requests[3]!, requests.length);
  });
});
