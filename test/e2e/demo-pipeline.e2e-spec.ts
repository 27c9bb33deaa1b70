// The demo repository through the whole real path: a seeded catalogue (some items updated later) and
// three days of slates of impressions whose clicks follow a learnable signal, produced to Kafka with a
// few redelivered events and some malformed messages; apps/ingest (a child process) storing them in
// ClickHouse and Redis; `mmctr-train` building the point-in-time set, training a tiny model, exporting,
// registering and promoting it; the scorer serving it to test-period slates replayed through
// POST /v1/score; the score-log sink writing score_log; and `mmctr-train parity` recomputing every
// served CTR from it, failing on a tampered one. No embedder runs: every item reads the zero vector.
import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import { categoryAt, SLATES, slateBehaviour, slateCatalogue, slatesFrom } from '../support/demo-slates';
import { makeMalformed, reasonPattern, type IsolatedNames } from '../support/ingest/fixtures';
import * as pipeline from '../support/pipeline-e2e';
import { expectParity } from '../support/replay-check';
import { expectTamperedCtrFails } from '../support/tampered-parity';

// One step per test, each on the state the previous one left (ingest, train, serve, check).
jest.setTimeout(150_000);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Monday 2026-03-02 00:00 UTC. */
const T0 = Date.UTC(2026, 2, 2);
const SPAN = 3 * DAY;
const REQUESTS = 30;
const REDELIVERED = 50;
const MALFORMED = 8;
const TRAIN_END_MS = T0 + Math.floor(0.8 * SPAN);
const VAL_END_MS = T0 + Math.floor(0.9 * SPAN);

/**
 * The catalogue: every item a day before the events, and every fourth one re-categorised on the first
 * day (an as-of join reads the old version before it, the new one after; every version precedes the
 * test period, so the scorer's latest version is the one parity reads as of each request).
 */
function catalogue(): CatalogueItem[] {
  const { first, updated } = slateCatalogue(T0, T0 + 9 * HOUR);
  return [...first, ...updated];
}

/** Slates over the span, up to an hour before its end (seed 17). */
const behaviour = (items: CatalogueItem[]): BehaviourEvent[] =>
  slateBehaviour(17, T0, SPAN - HOUR, (itemId, ts) => categoryAt(items, itemId, ts));

/** One score request per test-period slate: its items in their positions, with its context. */
function replayRequests(events: BehaviourEvent[], count: number) {
  return slatesFrom(events, VAL_END_MS)
    .slice(0, count)
    .map((imps, k) => ({
      request_id: `demo-replay-${imps[0]!.request_id}`,
      user_id: imps[0]!.user_id,
      ts_ms: imps[0]!.ts_ms,
      // every third request without context (the defaults), every fifth with an item no catalogue names
      ...(k % 3 === 2 ? {} : { context: imps[0]!.context }),
      candidates: [
        ...imps.map((e) => ({ item_id: e.item_id, position: e.position })),
        ...(k % 5 === 4 ? [{ item_id: `ghost-${k}` }] : []),
      ],
    }));
}

describe('the demo repository end to end (Kafka -> ingest -> ClickHouse/Redis -> mmctr-train -> scorer -> score_log -> parity)', () => {
  const { ingest, suite, work } = pipeline.declareSuites('mmctr-demo-e2e-');
  const items = catalogue();
  const events = behaviour(items);
  const requests = replayRequests(events, REQUESTS);
  let names: IsolatedNames;
  let trained: pipeline.TrainedModel;

  it('ingest stores every valid event and item version exactly once and dead-letters the malformed ones with their reasons', async () => {
    names = await ingest.names('demo-e2e');
    await ingest.startIngest(names, { CLICKHOUSE_DATABASE: suite.env.database });
    const malformed = makeMalformed(names.prefix, MALFORMED, events[0]!);
    const producer = ingest.producer(names);
    await producer.sendItems(items);
    // Redelivery: some events are sent twice, far apart.
    await producer.sendEvents([...events, ...events.slice(0, REDELIVERED)]);
    await producer.sendRaw(names.env.KAFKA_TOPIC_EVENTS, malformed);
    await pipeline.waitIngestCaughtUp(ingest.kafka(), names, [
      names.env.KAFKA_TOPIC_EVENTS,
      names.env.KAFKA_TOPIC_ITEMS,
    ]);

    const ch = suite.env.ch;
    const byType = await ch.query<{ type: string; n: string }>(
      'SELECT toString(type) AS type, count() AS n FROM events_dedup GROUP BY type',
    );
    expect(Object.fromEntries(byType.map((r) => [r.type, Number(r.n)]))).toEqual(
      pipeline.countBy(events, (e) => e.type),
    );
    const [stored] = await ch.query<{ n: string }>('SELECT count() AS n FROM items FINAL');
    expect(Number(stored!.n)).toBe(items.length);

    await pipeline.expectDeadLetters(
      ingest.kafka(),
      names,
      malformed.map((m) => ({
        label: m.kind,
        value: m.value,
        topic: names.env.KAFKA_TOPIC_EVENTS,
        reason: reasonPattern[m.kind],
      })),
    );

    // The online store: each user's click history in full (under the cap).
    const users = Array.from({ length: SLATES.users }, (_, u) => `u${u}`);
    const clicks = pipeline.countBy(
      events.filter((e) => e.type === 'click'),
      (e) => e.user_id,
    );
    const redis = ingest.redis();
    const histories = await Promise.all(
      users.map((u) => redis.zcard(`${names.env.REDIS_KEY_PREFIX}hist:${u}`)),
    );
    expect(histories).toEqual(users.map((u) => clicks[u] ?? 0));
  });

  it('mmctr-train builds the point-in-time set, trains a tiny model, exports, registers and promotes it', async () => {
    // The click signal (the user's category) is learnt: on the split the model is chosen on, and better
    // than chance on the few hundred test impressions (quality targets live in bench/, not here); the
    // ONNX graph is the model.
    const impressionTs = events.filter((e) => e.type === 'impression').map((e) => e.ts_ms);
    trained = await pipeline.trainCheckAndPromote(
      suite,
      work.path(),
      { maxEpochs: 3, trainEndMs: TRAIN_END_MS, valEndMs: VAL_END_MS, impressionTs },
      { val: 0.65, test: 0.55 },
    );
  });

  it('the scorer serves it: replayed test-period slates are answered and logged to score_log', async () => {
    await pipeline.serveAndLog(suite, names, trained.version, requests);
  });

  it('mmctr-train parity recomputes every served CTR within 1e-4', async () => {
    const run = await expectParity(suite.env.database, trained.version, requests);
    // Histories were read, the unknown items scored, items read without a vector; no item changed
    // after a request.
    expect(run.result.item_refs.history).toBeGreaterThan(0);
    expect(run.result.item_refs.unknown).toBe(
      requests.filter((r) => r.candidates.length > SLATES.slate).length,
    );
    expect(run.result.item_refs.without_vector).toBeGreaterThan(0);
    expect(run.result.item_refs.changed_after_request).toBe(0);
  });

  it('mmctr-train parity fails on a logged CTR the logged inputs do not give', async () => {
    await expectTamperedCtrFails(suite.env, trained.version, requests[3]!, requests.length);
  });
});
