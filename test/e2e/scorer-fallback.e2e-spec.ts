// Broken models against the real stack (registry in ClickHouse, items in ClickHouse and Redis, score log
// through Kafka): a scorer started with a broken newest production version serves the newest one that
// loads and answers finite CTRs; a model that answers NaN at request time is re-scored by the previous
// version (or answers the prior), never a NaN or a 5xx; every HTTP status is counted; non-JSON is 415.
import { rm } from 'node:fs/promises';
import {
  brokenModel,
  insertCatalogue,
  putRedisItems,
  registerModel,
  scorerSuite,
  testModel,
  waitFor,
  waveVector,
} from '../../apps/scorer/test/support/scorer-harness';

const vec = (seed: number) => waveVector(seed, 7.3, 0.41, Math.cos);
// c1..c6 are in ClickHouse with vectors (the cache's start-up load); r-vec only in Redis (a miss).
const CH_ITEMS = Array.from({ length: 6 }, (_, k) => `c${k + 1}`);
const REDIS_ITEM = 'r-vec';
const PRIOR = 0.0314;

// Each test starts a scorer that loads several model versions: more than the default per-test limit.
jest.setTimeout(240_000);

describe('scorer with broken models (real registry, item cache, Redis, Kafka)', () => {
  // Each test starts its own scorer, closed after the test.
  const suite = scorerSuite({ SCORER_PRIOR_CTR: String(PRIOR) }, { closeAfterEach: true });
  let good1: string;
  let good2: string;
  let nan: string;
  let broken: string;
  let production: { version: string; dir: string } | undefined;

  /** Makes `version` production and retires the one before, as `mmctr-train promote` does. */
  const promote = async (version: string, dir: string) => {
    await registerModel(suite.env.ch, version, dir, 'production');
    if (production) await registerModel(suite.env.ch, production.version, production.dir, 'retired');
    production = { version, dir };
  };
  const ready = async () => (await suite.scorer.ready()).body;

  beforeAll(async () => {
    good1 = await testModel('fallback', 1);
    good2 = await testModel('fallback', 2);
    nan = await testModel('fallback', 5, 8, true);
    broken = await brokenModel(good1);
    const now = Date.now();
    const items = CH_ITEMS.map((item_id, k) => ({
      item_id,
      category: 'cat',
      tags: ['t1'],
      vector: vec(k + 1),
    }));
    await insertCatalogue(suite.env.ch, items, now);
    const redisItem = {
      item_id: REDIS_ITEM,
      title: 'redis only',
      category: 'rcat',
      tags: ['rt'],
      vector: vec(99),
    };
    await putRedisItems(suite.env.prefix, [redisItem], now);
  });

  afterAll(async () => {
    if (broken) await rm(broken, { recursive: true, force: true });
  });

  it('starts on the newest production version that loads and answers finite CTRs, logging those skipped', async () => {
    await promote('fb-v1', good1);
    await promote('fb-v2', nan); // finite on synthetic inputs, NaN on the cached items' vectors
    await promote('fb-v3', broken); // not an ONNX graph
    const scorer = await suite.start();
    await scorer.waitServing();
    expect((await ready()).model_version).toBe('fb-v1');
    const skipped = scorer.logged('model version skipped').map((l) => [l.version, l.reason]);
    expect(skipped).toEqual([
      ['fb-v3', 'failed to load'],
      ['fb-v2', 'non-finite CTR at warm-up'],
    ]);
    const m = await scorer.metrics();
    expect(m).toMatch(/mmctr_scorer_model_loads_total\{result="failed"\} 1\n/);
    expect(m).toMatch(/mmctr_scorer_model_loads_total\{result="rejected"\} 1\n/);
    expect(m).toMatch(/mmctr_scorer_model_loads_total\{result="ok"\} 1\n/);
    const res = await scorer.score({
      user_id: 'u1',
      candidates: CH_ITEMS.map((item_id) => ({ item_id })),
    });
    expect(res.status).toBe(200);
    expect(res.body.model_version).toBe('fb-v1');
    expect(res.body.degraded).toBe(false);
    expect(res.body.scores.every((s) => Number.isFinite(s.ctr) && s.ctr > 0 && s.ctr < 1)).toBe(true);
  });

  it('counts every status sent (401, 413, 415, unparsable JSON 400) and answers 415 to text/plain', async () => {
    const scorer = await suite.start({ SCORER_API_KEYS: 'fb-key', SCORER_BODY_LIMIT_BYTES: '4096' });
    await scorer.waitServing();
    const url = `${scorer.url}/v1/score`;
    const key = { 'x-api-key': 'fb-key' };
    const body = { user_id: 'u1', candidates: [{ item_id: 'c1' }] };
    const send = async (payload: string, headers: Record<string, string>) => {
      const res = await fetch(url, { method: 'POST', headers, body: payload });
      return { status: res.status, body: (await res.json()) as { message?: string } };
    };
    const json = { 'content-type': 'application/json' };
    expect((await send(JSON.stringify(body), json)).status).toBe(401);
    expect((await send(JSON.stringify(body), { ...json, 'x-api-key': 'nope' })).status).toBe(401);
    const plain = await send(JSON.stringify(body), { 'content-type': 'text/plain', ...key });
    expect(plain.status).toBe(415);
    expect(plain.body.message).toMatch(/application\/json.*text\/plain/);
    expect((await send('<a/>', { 'content-type': 'application/xml', ...key })).status).toBe(415);
    expect((await send('{"user_id": ', { ...json, ...key })).status).toBe(400);
    const big = { user_id: 'u1', candidates: [{ item_id: 'x'.repeat(8000) }] };
    expect((await send(JSON.stringify(big), { ...json, ...key })).status).toBe(413);
    expect((await send(JSON.stringify(body), { ...json, ...key })).status).toBe(200);
    const m = await scorer.metrics();
    const count = (status: number) =>
      Number(
        new RegExp(`mmctr_scorer_request_duration_seconds_count\\{status="${status}"\\} (\\d+)`).exec(
          m,
        )?.[1] ?? 0,
      );
    expect([401, 415, 400, 413, 200].map((s) => [s, count(s)])).toEqual([
      [401, 2],
      [415, 2],
      [400, 1],
      [413, 1],
      [200, 1],
    ]);
  });

  it('re-scores with the previous version when the serving one answers NaN, with no 5xx, counted and logged', async () => {
    // No item cache preload: the NaN model's warm-up sees no real vector, so it serves.
    await promote('fb-v4', good2);
    const scorer = await suite.start({ SCORER_ITEM_CACHE_SOURCE: 'none' });
    await waitFor('fb-v4 serving', async () => (await ready()).model_version === 'fb-v4');
    await promote('fb-v5', nan);
    await waitFor('fb-v5 serving', async () => (await ready()).model_version === 'fb-v5');
    expect(await scorer.metrics()).toMatch(/mmctr_scorer_model_info\{role="fallback",version="fb-v4"\} 1/);

    // Unknown items have zero vectors: fb-v5 answers them itself.
    const plain = await scorer.score({
      user_id: 'u1',
      candidates: [{ item_id: 'unknown-1' }],
    });
    expect(plain.status).toBe(200);
    expect(plain.body).toMatchObject({ model_version: 'fb-v5', degraded: false });

    // r-vec comes from Redis with a vector: fb-v5 answers NaN, fb-v4 scores the request.
    const res = await scorer.score({
      request_id: 'fb-nan-1',
      user_id: 'u1',
      candidates: [{ item_id: REDIS_ITEM }, { item_id: 'unknown-1' }],
    });
    expect(res.status).toBe(200);
    expect(res.body.model_version).toBe('fb-v4');
    expect(res.headers.get('x-model-version')).toBe('fb-v4');
    expect(res.body.degraded).toBe(true);
    expect(res.body.scores.every((s) => Number.isFinite(s.ctr) && s.ctr > 0 && s.ctr < 1)).toBe(true);
    expect(res.body.scores.map((s) => s.ctr)).not.toContain(PRIOR);
    const m = await scorer.metrics();
    expect(m).toMatch(/mmctr_scorer_non_finite_responses_total\{fallback="model"\} 1\n/);
    expect(m).toMatch(/mmctr_scorer_degraded_responses_total\{reason="non_finite"\} 1\n/);
    expect(m).not.toMatch(/mmctr_scorer_request_duration_seconds_count\{status="5\d\d"\}/);
    expect(scorer.logged('model answered a non-finite CTR; answering the fallback')).toEqual([
      expect.objectContaining({ request_id: 'fb-nan-1', version: 'fb-v5', fallback: 'fb-v4' }),
    ]);
    // The score log names the version that answered, flagged degraded (parity skips it).
    const row = await waitFor('the re-scored request in score_log', async () => {
      const [r] = await suite.env.ch.query<{ model_version: string; degraded: number; ctrs: number[] }>(
        `SELECT model_version, degraded, ctrs FROM score_log FINAL WHERE request_id = 'fb-nan-1'`,
      );
      return r;
    });
    expect(row).toMatchObject({ model_version: 'fb-v4', degraded: 1 });
    expect(row.ctrs.map((c, i) => Math.abs(c - res.body.scores[i]!.ctr) < 1e-6)).toEqual([true, true]);
  });

  it('answers the prior, degraded, for NaN rows when no earlier version is loaded', async () => {
    // Restarted on fb-v5 (newest, passes warm-up on an empty cache): nothing to fall back to.
    const scorer = await suite.start({ SCORER_ITEM_CACHE_SOURCE: 'none' });
    await waitFor('fb-v5 serving', async () => (await ready()).model_version === 'fb-v5');
    const res = await scorer.score({
      request_id: 'fb-nan-2',
      user_id: 'u1',
      candidates: [{ item_id: REDIS_ITEM }, { item_id: 'unknown-2' }],
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ model_version: 'fb-v5', degraded: true });
    expect(res.body.scores[0]!.ctr).toBeCloseTo(PRIOR, 6);
    expect(Number.isFinite(res.body.scores[1]!.ctr)).toBe(true);
    expect(res.body.scores[1]!.ctr).not.toBeCloseTo(PRIOR, 6); // the model's own finite answer stays
    expect(await scorer.metrics()).toMatch(/mmctr_scorer_non_finite_responses_total\{fallback="prior"\} 1\n/);
  });
});
