// Degraded mode: the scorer reaches Redis through a TCP proxy this test controls (the shared Redis
// keeps running for everyone else). Unreachable or silent Redis -> 200 with degraded: true, never 500.
import { loadConfig } from '@mmctr/config';
import * as harness from '../../apps/scorer/test/support/scorer-harness';
import { TcpProxy } from '../support/tcp-proxy';

describe('scorer degraded mode (Redis behind a controllable proxy)', () => {
  const suite = harness.scorerSuite();
  let proxy: TcpProxy;
  const served: string[] = [];

  beforeAll(async () => {
    const dir = await harness.testModel('degraded', 3);
    const { env } = suite;
    const redisUrl = new URL(loadConfig().REDIS_URL);
    proxy = new TcpProxy(redisUrl.hostname, Number(redisUrl.port || 6379));
    const port = await proxy.start();
    await harness.recordClicks(
      env.prefix,
      ['a', 'b', 'c'].map((item_id, k) =>
        harness.clickEvent('u-deg', item_id, Date.now() - 10_000 + k, `d${k}`, `r${k}`),
      ),
    );
    await harness.registerModel(env.ch, 'deg-v1', dir, 'production');
    redisUrl.port = String(port);
    const scorer = await suite.start({ REDIS_URL: redisUrl.toString(), SCORER_REDIS_TIMEOUT_MS: '300' });
    await scorer.waitServing();
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  const score = async (n: number) => {
    const res = await suite.scorer.score({
      user_id: 'u-deg',
      candidates: [{ item_id: `fresh-${n}` }, { item_id: 'a' }],
    });
    if (res.status === 200) served.push(res.body.request_id);
    return res;
  };

  it('answers normally while Redis is reachable', async () => {
    const res = await harness.waitFor('a non-degraded answer', async () => {
      const r = await score(0);
      return r.status === 200 && !r.body.degraded && r;
    });
    expect(res.body.scores).toHaveLength(2);
  });

  it.each([
    ['silent (calls time out)', 'blackhole' as const],
    ['refusing connections (calls fail fast)', 'reset' as const],
  ])('answers 200 with degraded: true while Redis is %s', async (_what, mode) => {
    proxy.setMode(mode);
    for (let i = 1; i <= 5; i++) {
      const res = await score(i + (mode === 'reset' ? 100 : 0));
      expect(res.status).toBe(200);
      expect(res.body.degraded).toBe(true);
      expect(res.body.scores.every((s) => s.ctr > 0 && s.ctr < 1)).toBe(true);
    }
    const metrics = await suite.scorer.metrics();
    expect(metrics).toMatch(/mmctr_scorer_degraded_responses_total\{reason="history"\} [1-9]/);
    proxy.setMode('forward');
  });

  it('recovers once Redis is back, and logs the degraded responses too', async () => {
    await harness.waitFor('a non-degraded answer after recovery', async () => {
      const r = await score(1000);
      return r.status === 200 && !r.body.degraded;
    });
    await harness.waitFor('every served request in score_log', async () => {
      const logged = await harness.loggedRequestIds(suite.env.ch);
      return served.every((id) => logged.has(id));
    });
    const [row] = await suite.env.ch.query<{ n: string }>(
      'SELECT count() AS n FROM score_log FINAL WHERE degraded = 1',
    );
    expect(Number(row!.n)).toBeGreaterThanOrEqual(10);
  });
});
