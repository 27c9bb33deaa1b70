// The scoring API end to end against the real stack: validation, auth, features from ClickHouse
// (item cache) and Redis (history, misses), score logging through Kafka into score_log, and
// serving/training parity recomputed from the logged features with libs/features.
import type { RawRecord } from '@mmctr/features';
import type { ScoreResponse } from '@mmctr/scorer';
import {
  clickEvent,
  insertCatalogue,
  loggedRequestIds,
  offlineScore,
  putRedisItems,
  recordClicks,
  registerModel,
  scorerSuite,
  specVersion,
  testModel,
  waitFor,
  waveVector,
} from '../../apps/scorer/test/support/scorer-harness';

const KEY = { 'x-api-key': 'key-two' };
const vec = (seed: number) => waveVector(seed, 13.1, 0.7, Math.sin);

// i1..i12 live in ClickHouse (the cache's start-up load); r1..r3 only in Redis (the miss path).
const chItems = Array.from({ length: 12 }, (_, k) => ({
  item_id: `i${k + 1}`,
  category: `cat${k % 3}`,
  tags: [`t${k % 4}`, `t${(k + 1) % 5}`],
  vector: k < 8 ? vec(k + 1) : null,
}));
const redisItems = Array.from({ length: 3 }, (_, k) => ({
  item_id: `r${k + 1}`,
  category: `rcat${k}`,
  tags: [`rt${k}`],
  vector: vec(100 + k),
}));
const rawOf = (id: string): RawRecord => {
  const it = [...chItems, ...redisItems].find((x) => x.item_id === id);
  return it
    ? { row: { item_id: id, category: it.category, tags: it.tags }, vectors: { fused: it.vector } }
    : { row: { item_id: id } };
};

const MIN = 60_000;
// u1's clicks, oldest first, and how long before the suite starts each was: ages in different buckets.
const CLICKS: [string, number][] = [
  ['i1', 300 * MIN],
  ['r2', 50 * MIN],
  ['ghost', 15 * MIN], // unknown everywhere
  ['i9', 20_000], // no vector
];

describe('scorer API (real Redis, Kafka, ClickHouse)', () => {
  const suite = scorerSuite({ SCORER_API_KEYS: 'key-one,key-two', SCORER_MAX_CANDIDATES: '50' });
  let modelDir: string;
  const served: string[] = [];
  const now = Date.now();

  beforeAll(async () => {
    modelDir = await testModel('api', 1, 8);
    const { env } = suite;
    await insertCatalogue(env.ch, chItems, now);
    await putRedisItems(env.prefix, redisItems, now);
    await recordClicks(
      env.prefix,
      CLICKS.map(([item_id, ago], k) => clickEvent('u1', item_id, now - ago, `e${k}`, `old${k}`)),
    );
    await registerModel(env.ch, 'api-v1', modelDir, 'production');
    await suite.start();
  });

  const score = async (body: unknown, headers: Record<string, string> = KEY) => {
    const res = await suite.scorer.score<ScoreResponse & { message?: string }>(body, headers);
    if (res.status === 200) served.push(res.body.request_id);
    return res;
  };

  it('rejects invalid requests with a 400 and a message that names the problem', async () => {
    const cases: [unknown, RegExp][] = [
      [{ candidates: [{ item_id: 'i1' }] }, /must have required property 'user_id'/],
      [{ user_id: 'u1', candidates: [] }, /candidates must NOT have fewer than 1 items/],
      [{ user_id: 'u1' }, /must have required property 'candidates'/],
      [{ user_id: '', candidates: [{ item_id: 'i1' }] }, /user_id must NOT have fewer than 1 characters/],
      [{ user_id: 'u1', candidates: [{ item_id: 'i1', position: -1 }] }, /position must be >= 0/],
      [{ user_id: 'u1', candidates: [{ item_id: 'i1', position: 1.5 }] }, /position must be integer/],
      [{ user_id: 'u1', candidates: [{ id: 'i1' }] }, /candidates\/0 must have required property 'item_id'/],
      [
        { user_id: 'u1', candidates: [{ item_id: 'i1', id: 'x' }] },
        /candidates\/0 has unknown property 'id'/,
      ],
      [{ user_id: 'u1', candidates: [{ item_id: 'i1' }], extra: true }, /unknown property 'extra'/],
      [{ user_id: 'u1', context: { device: 7 }, candidates: [{ item_id: 'i1' }] }, /device must be string/],
      [{ user_id: 'u1', context: { os: 'x' }, candidates: [{ item_id: 'i1' }] }, /unknown property 'os'/],
      // A lone surrogate would be rewritten to U+FFFD on its way to the score log: refused instead.
      [{ user_id: '\ud800', candidates: [{ item_id: 'i1' }] }, /user_id is not well-formed Unicode/],
      [{ user_id: 'u1', candidates: [{ item_id: 'i\udc001' }] }, /candidates\/0\/item_id is not well-formed/],
      [
        { user_id: 'u1', candidates: Array.from({ length: 51 }, (_, i) => ({ item_id: `x${i}` })) },
        /candidates must NOT have more than 50 items/,
      ],
    ];
    for (const [body, message] of cases) {
      const res = await score(body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(res.body.message).toMatch(message);
      expect(res.headers.get('x-model-version')).toBe('api-v1');
    }
    const malformed = await suite.scorer.score<{ message: string }>('{"user_id":', KEY);
    expect(malformed.status).toBe(400);
  });

  it('requires a configured API key when keys are set', async () => {
    const body = { user_id: 'u1', candidates: [{ item_id: 'i1' }] };
    expect((await score(body, {})).status).toBe(401);
    expect((await score(body, { 'x-api-key': 'nope' })).status).toBe(401);
    expect((await score(body, { 'x-api-key': 'key-one' })).status).toBe(200);
  });

  it('scores candidates from cached, Redis-only and unknown items, with the model version header', async () => {
    const candidates = [
      { item_id: 'i2', position: 0 },
      { item_id: 'i10', position: 1 },
      { item_id: 'r1', position: 2 },
      { item_id: 'nowhere' },
      { item_id: 'i2', position: 40 },
    ];
    const res = await score({
      request_id: 'req-main',
      user_id: 'u1',
      context: { device: 'ios', country: 'DE' },
      candidates,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-model-version')).toBe('api-v1');
    expect(res.body.request_id).toBe('req-main');
    expect(res.body.model_version).toBe('api-v1');
    expect(res.body.degraded).toBe(false);
    expect(res.body.scores.map((s) => s.item_id)).toEqual(candidates.map((c) => c.item_id));
    for (const s of res.body.scores) {
      expect(s.ctr).toBeGreaterThan(0);
      expect(s.ctr).toBeLessThan(1);
    }
    // Same item, different position: the position feature is used.
    expect(res.body.scores[0]!.ctr).not.toBe(res.body.scores[4]!.ctr);

    const metrics = await suite.scorer.metrics();
    expect(metrics).toMatch(/mmctr_scorer_item_lookups_total\{result="hit"\} [1-9]/);
    expect(metrics).toMatch(/mmctr_scorer_item_lookups_total\{result="redis"\} [1-9]/);
    expect(metrics).toMatch(/mmctr_scorer_oov_items_total [1-9]/);
    expect(metrics).toMatch(/mmctr_scorer_model_info\{role="production",version="api-v1"\} 1/);
    expect(metrics).toMatch(/mmctr_scorer_request_duration_seconds_bucket/);
    expect(metrics).toMatch(/mmctr_scorer_batch_candidates_bucket/);
  });

  it('uses the user history: the same slate scores differently for a user without one', async () => {
    const candidates = [{ item_id: 'i3' }, { item_id: 'i4' }];
    const a = await score({ user_id: 'u1', candidates });
    const b = await score({ user_id: 'u-new', candidates });
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(b.body.degraded).toBe(false);
    expect(a.body.scores.map((s) => s.ctr)).not.toEqual(b.body.scores.map((s) => s.ctr));
  });

  it('serves liveness, readiness, Swagger UI, OpenAPI and metrics', async () => {
    const { url } = suite.scorer;
    const live = await fetch(`${url}/health/live`);
    expect(live.status).toBe(200);
    expect(live.headers.get('x-model-version')).toBe('api-v1');
    const ready = (await suite.scorer.ready()).body;
    expect(ready).toMatchObject({ status: 'ready', model_version: 'api-v1', item_cache: { loaded: true } });
    const ui = await fetch(`${url}/docs`);
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await ui.text()).toContain('swagger-ui');
    const docs = (await (await fetch(`${url}/docs-json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(docs.paths)).toContain('/v1/score');
  });

  it('logs every response to score_log, with features that reproduce the served CTRs', async () => {
    expect(served.length).toBeGreaterThanOrEqual(4);
    const { env } = suite;
    await waitFor('every served request in score_log', async () => {
      const logged = await loggedRequestIds(env.ch);
      return served.every((id) => logged.has(id));
    });
    const [row] = await env.ch.query<{
      ts_ms: string;
      user_id: string;
      device: string;
      placement: string;
      country: string;
      feature_spec_version: string;
      history_item_ids: string[];
      history_ts_ms: string[]; // Int64 comes back as JSON strings
      item_ids: string[];
      positions: number[];
      ctrs: number[];
      degraded: number;
    }>(
      `SELECT ts_ms, user_id, device, placement, country, feature_spec_version, history_item_ids, history_ts_ms,
              item_ids, positions, ctrs, degraded FROM score_log FINAL WHERE request_id = 'req-main'`,
    );
    expect(row).toMatchObject({
      user_id: 'u1',
      device: 'ios',
      country: 'DE',
      feature_spec_version: await specVersion(modelDir),
      history_item_ids: ['i9', 'ghost', 'r2', 'i1'],
      item_ids: ['i2', 'i10', 'r1', 'nowhere', 'i2'],
      positions: [0, 1, 2, 3, 40],
      degraded: 0,
    });
    // The click times, same order as the ids: the history ages are recomputed from them.
    expect(row!.history_ts_ms.map(Number)).toEqual([...CLICKS].reverse().map(([, ago]) => now - ago));
    // Recompute offline from the logged features (libs/features, the trainer's encoder twin).
    const request = {
      ts_ms: Number(row!.ts_ms),
      user: { row: { user_id: row!.user_id } },
      context: { device: row!.device, placement: row!.placement, country: row!.country },
      candidates: row!.item_ids.map((id, i) => ({ ...rawOf(id), context: { position: row!.positions[i] } })),
    };
    const history = row!.history_item_ids.map((id, i) => ({
      ...rawOf(id),
      ts_ms: Number(row!.history_ts_ms[i]),
    }));
    const offline = await offlineScore(modelDir, { ...request, sequences: { hist: history } });
    expect(offline).toHaveLength(row!.ctrs.length);
    offline.forEach((p, i) => expect(Math.abs(p - row!.ctrs[i]!)).toBeLessThan(1e-4));
    // The ages matter: without the click times (age 0 = unknown) the same model scores differently.
    const ageless = await offlineScore(modelDir, {
      ...request,
      sequences: { hist: row!.history_item_ids.map(rawOf) },
    });
    expect(ageless.some((p, i) => Math.abs(p - row!.ctrs[i]!) > 1e-4)).toBe(true);

    // The calibration view (migration 0008) joins the impressions back to these scores.
    const ts = Number(row!.ts_ms) + 1000;
    const event = (event_id: string, type: string, item_id: string) => ({
      event_id,
      type,
      ts_ms: ts,
      event_time: Math.floor(ts / 1000),
      user_id: 'u1',
      item_id,
      request_id: 'req-main',
      position: 0,
      device: 'ios',
      placement: '',
      country: 'DE',
      value: 0,
      schema_version: 1,
      ingested_at: Math.floor(ts / 1000),
    });
    await env.ch.insert('events', [
      event('imp-1', 'impression', 'i2'),
      event('imp-2', 'impression', 'r1'),
      event('clk-1', 'click', 'i2'),
    ]);
    const calibration = await env.ch.query<{ n: string; c: string; predicted: number }>(
      `SELECT sum(impressions) AS n, sum(clicks) AS c, sum(predicted_ctr * impressions) AS predicted
       FROM score_calibration WHERE model_version = 'api-v1'`,
    );
    expect(Number(calibration[0]!.n)).toBe(2);
    expect(Number(calibration[0]!.c)).toBe(1);
    // i2 was scored twice in req-main (positions 0 and 40): ANY JOIN takes one of them.
    const i2 = [row!.ctrs[0]!, row!.ctrs[4]!];
    const predicted = calibration[0]!.predicted - row!.ctrs[2]!;
    expect(i2.some((c) => Math.abs(c - predicted) < 1e-9)).toBe(true);
  });
});
