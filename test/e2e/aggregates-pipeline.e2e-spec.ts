// The demo-aggregates repository (the demo plus an item's smoothed CTR over 1h / 24h / 7d and a user's
// clicks on the candidate's category over 7d) through the whole real path: a catalogue (some items
// re-categorised later) and three days of slates ending now, produced to Kafka in time order with a few
// redelivered events; apps/ingest (a child process) storing them in ClickHouse and keeping the online
// bucket counters in Redis; `mmctr-train` building the point-in-time set with the aggregate columns,
// training a tiny model, exporting, registering and promoting it; the scorer serving the test period's
// slates through POST /v1/score, reading the windows online and logging them; and `mmctr-train parity`
// recomputing every logged window value offline (equal, not close) and every served CTR within 1e-4,
// failing on a tampered window value. Last, a scorer whose Redis goes silent, then refuses connections:
// 200 answers, degraded, every window at its declared fallback.
//
// The slates are replayed live: the scorer stamps each request with its own clock. A window as of a past
// time is exact only while every bucket it reads still lives (docs/features.md, "Reading"), and the 1h
// window of minute buckets as of a time in an earlier minute has lost its oldest bucket already.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { counterGroup, counterKey } from '@mmctr/aggregates';
import { loadConfig } from '@mmctr/config';
import type { BehaviourEvent } from '@mmctr/contracts';
import type { ScoreResponse } from '@mmctr/scorer';
import { loggedRequestIds, waitFor } from '../../apps/scorer/test/support/scorer-harness';
import { categoryAt, slateBehaviour, slateCatalogue, slatesFrom } from '../support/demo-slates';
import type { IsolatedNames } from '../support/ingest/fixtures';
import * as pipeline from '../support/pipeline-e2e';
import { expectParity } from '../support/replay-check';
import { TcpProxy } from '../support/tcp-proxy';
import { parity } from '../support/trainer-cli';

// One step per test, each on the state the previous one left (ingest, train, serve, check).
jest.setTimeout(150_000);

const FEATURE_REPO = 'feature-repos/demo-aggregates';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const SPAN = 3 * DAY;
/** The data set ends a little before the test starts, on a minute boundary. */
const T_END = Math.floor(Date.now() / MINUTE) * MINUTE - MINUTE;
const T0 = T_END - SPAN;
const REQUESTS = 30;
const REDELIVERED = 50;
const TRAIN_END_MS = T0 + Math.floor(0.8 * SPAN);
const VAL_END_MS = T0 + Math.floor(0.9 * SPAN);
/** Every fourth item changes category then: clicks before it count under the old category, after under the new. */
const RECATEGORISED_MS = T0 + 9 * HOUR;

/** score_log.aggregates_json: the raw window values the scorer fed the model, as of as_of_ms. */
interface LoggedAggregates {
  as_of_ms: number;
  user: Record<string, number>;
  candidates: Record<string, number[]>;
}

/** Every item a day before the events (FIRST), every fourth re-categorised on the first day (UPDATED). */
const { first: FIRST, updated: UPDATED } = slateCatalogue(T0, RECATEGORISED_MS);
const CATALOGUE = [...FIRST, ...UPDATED];

/** Slates over the span, up to a minute before its end (seed 23). */
const behaviour = (): BehaviourEvent[] =>
  slateBehaviour(23, T0, SPAN - MINUTE, (itemId, ts) => categoryAt(CATALOGUE, itemId, ts));

/** The newest test-period slates, one request each (no ts_ms: the scorer's clock), newest first. */
function replayRequests(events: BehaviourEvent[], count: number) {
  return slatesFrom(events, VAL_END_MS)
    .reverse()
    .slice(0, count)
    .map((imps, k) => ({
      request_id: `agg-replay-${imps[0]!.request_id}`,
      user_id: imps[0]!.user_id,
      context: imps[0]!.context,
      // every fifth with an item no catalogue names (the category key part reads its default)
      candidates: [
        ...imps.map((e) => ({ item_id: e.item_id, position: e.position })),
        ...(k % 5 === 4 ? [{ item_id: `ghost-${k}` }] : []),
      ],
    }));
}

describe('aggregate features end to end (Kafka -> ingest counters -> mmctr-train -> scorer reads -> score_log -> parity)', () => {
  const { ingest, suite, work } = pipeline.declareSuites('mmctr-agg-e2e-', { FEATURE_REPO });
  const events = behaviour();
  const requests = replayRequests(events, REQUESTS);
  let names: IsolatedNames;
  let model: string;

  it('ingest stores every event once and counts it once online, item versions before the events that follow them', async () => {
    names = await ingest.names('agg-e2e');
    await ingest.startIngest(names, { CLICKHOUSE_DATABASE: suite.env.database, FEATURE_REPO });
    const producer = ingest.producer(names);
    const topics = [names.env.KAFKA_TOPIC_EVENTS, names.env.KAFKA_TOPIC_ITEMS];
    const caughtUp = () => pipeline.waitIngestCaughtUp(ingest.kafka(), names, topics);
    // A composite key's category is the one ingest has stored when it counts the click: each catalogue
    // version is stored before the events after it are produced (docs/features.md, Aggregations).
    const before = events.filter((e) => e.ts_ms < RECATEGORISED_MS);
    await producer.sendItems(FIRST);
    await caughtUp();
    await producer.sendEvents(before);
    await caughtUp();
    await producer.sendItems(UPDATED);
    await caughtUp();
    // Redelivery: some of the earliest events are sent again, days of events later.
    await producer.sendEvents([...events.slice(before.length), ...events.slice(0, REDELIVERED)]);
    await caughtUp();

    const [stored] = await suite.env.ch.query<{ n: string }>('SELECT count() AS n FROM events_dedup');
    expect(Number(stored!.n)).toBe(events.length);
    // The online counters: an item's clicks over the last 7d of hour buckets, as ClickHouse counts them.
    const redis = ingest.redis();
    const hourNow = Math.floor(Date.now() / HOUR) * HOUR;
    const item = 'i8';
    const fields = await Promise.all(
      Array.from({ length: 7 * 24 }, (_, h) => hourNow - (h + 1) * HOUR).map((s) =>
        redis.hget(
          counterKey(counterGroup(names.env.REDIS_KEY_PREFIX, 'item', [item]), HOUR, s),
          'item_clicks',
        ),
      ),
    );
    const online = fields.reduce((n, f) => n + Number(f ?? 0), 0);
    const offline = events.filter(
      (e) => e.type === 'click' && e.item_id === item && e.ts_ms < hourNow && e.ts_ms >= hourNow - 7 * DAY,
    ).length;
    expect(offline).toBeGreaterThan(0);
    expect(online).toBe(offline);
  });

  it('mmctr-train builds the point-in-time set with the aggregate columns, trains, exports, registers and promotes', async () => {
    // The click signal is learnt (quality targets live in bench/); the ONNX graph is the model.
    const impressionTs = events.filter((e) => e.type === 'impression').map((e) => e.ts_ms);
    const trained = await pipeline.trainCheckAndPromote(
      suite,
      work.path(),
      {
        featureRepo: FEATURE_REPO,
        maxEpochs: 3,
        trainEndMs: TRAIN_END_MS,
        valEndMs: VAL_END_MS,
        impressionTs,
      },
      { val: 0.6 },
    );
    model = trained.version;
    const layout = JSON.parse(await readFile(join(trained.registry, model, 'layout.json'), 'utf8')) as object;
    expect(JSON.stringify(layout)).toContain('item_ctr');
  });

  it('the scorer reads the windows online: the test slates are answered, not degraded, and logged with their window values', async () => {
    await pipeline.serveAndLog(suite, names, model, requests);
    const rows = await suite.env.ch.query<{ aggregates_json: string }>(
      "SELECT aggregates_json FROM score_log FINAL WHERE request_id LIKE 'agg-replay-%'",
    );
    const logged = rows.map((r) => JSON.parse(r.aggregates_json) as LoggedAggregates);
    expect(logged).toHaveLength(requests.length);
    const values = (key: string) => logged.flatMap((l) => l.candidates[key] ?? []);
    // Every window was read, and the windows are not all empty: recent impressions in the last hour's
    // minute buckets, clicks on the user's categories over the week.
    for (const w of ['1h', '24h', '7d']) {
      expect(values(`item_ctr@${w}`)).toHaveLength(requests.reduce((n, r) => n + r.candidates.length, 0));
    }
    expect(values('item_ctr@1h').some((v) => v !== 0.05)).toBe(true);
    expect(values('user_category_clicks@7d').some((v) => v > 0)).toBe(true);
  });

  it('mmctr-train parity finds every logged window value equal offline and every served CTR within 1e-4', async () => {
    const run = await expectParity(suite.env.database, model, requests);
    const candidates = requests.reduce((n, r) => n + r.candidates.length, 0);
    expect(run.result.aggregates).toMatchObject({
      ok: true,
      rows: requests.length,
      values_compared: 4 * candidates,
      values_equal: 4 * candidates,
      undeclared_values: 0,
    });
  });

  it('mmctr-train parity fails on a logged window value the counters do not give', async () => {
    const request = requests[2]!;
    const [row] = await suite.env.ch.query<
      Record<string, unknown> & { aggregates_json: string; ts_ms: string }
    >('SELECT * FROM score_log FINAL WHERE request_id = {id:String}', { id: request.request_id });
    const aggregates = JSON.parse(row!.aggregates_json) as LoggedAggregates;
    aggregates.candidates['user_category_clicks@7d']![0]! += 1;
    const ts = Number(row!.ts_ms);
    await suite.env.ch.insert('score_log', [
      {
        ...row,
        request_id: `${request.request_id}-tampered`,
        ts_ms: ts,
        event_time: Math.floor(ts / 1000),
        aggregates_json: JSON.stringify(aggregates),
      },
    ]);
    const run = await parity(suite.env.database, model, ['--quiet']);
    expect(run.code).toBe(1);
    expect(run.result).toMatchObject({
      ok: false,
      rows_checked: requests.length + 1,
      aggregates: { ok: false, values_equal: run.result!.aggregates!.values_compared - 1 },
    });
    expect(run.result!.aggregates!.worst[0]).toMatchObject({
      request_id: `${request.request_id}-tampered`,
      value: 'user_category_clicks@7d',
      side: 'candidate',
      item_id: request.candidates[0]!.item_id,
      abs_diff: 1,
    });
  });

  it('a Redis outage while scoring: 200 answers degraded for the aggregates, each window at its declared fallback', async () => {
    const redisUrl = new URL(loadConfig().REDIS_URL);
    const proxy = new TcpProxy(redisUrl.hostname, Number(redisUrl.port || 6379));
    redisUrl.port = String(await proxy.start());
    try {
      const scorer = await pipeline.startServing(suite, names, model, {
        REDIS_URL: redisUrl.toString(),
        SCORER_REDIS_TIMEOUT_MS: '300',
      });
      const served: string[] = [];
      for (const mode of ['blackhole', 'reset'] as const) {
        proxy.setMode(mode);
        for (const [k, r] of requests.slice(0, 3).entries()) {
          const res = await scorer.score<ScoreResponse>({ ...r, request_id: `agg-outage-${mode}-${k}` });
          expect({ status: res.status, degraded: res.body.degraded }).toEqual({
            status: 200,
            degraded: true,
          });
          expect(res.body.scores.every((s) => s.ctr > 0 && s.ctr < 1)).toBe(true);
          served.push(res.body.request_id);
        }
      }
      expect(await scorer.metrics()).toMatch(
        /mmctr_scorer_degraded_responses_total\{reason="aggregates"\} [1-9]/,
      );
      proxy.setMode('forward');
      await waitFor('every degraded answer in score_log', async () => {
        const logged = await loggedRequestIds(suite.env.ch);
        return served.every((id) => logged.has(id));
      });
      const rows = await suite.env.ch.query<{ degraded: number; aggregates_json: string }>(
        "SELECT degraded, aggregates_json FROM score_log FINAL WHERE request_id LIKE 'agg-outage-%'",
      );
      expect(rows).toHaveLength(served.length);
      for (const row of rows) {
        const { candidates } = JSON.parse(row.aggregates_json) as LoggedAggregates;
        // item_ctr's declared default; a count reads 0
        expect({ degraded: Number(row.degraded), ctr: new Set(candidates['item_ctr@24h']) }).toEqual({
          degraded: 1,
          ctr: new Set([0.05]),
        });
        expect(new Set(candidates['user_category_clicks@7d'])).toEqual(new Set([0]));
      }
    } finally {
      await proxy.stop();
    }
  });
});
