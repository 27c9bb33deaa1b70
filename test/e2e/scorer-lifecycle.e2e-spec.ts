// Model lifecycle against the real registry (ClickHouse models_current): hot swap under load drops
// no request, a version that fails to load leaves the old one serving, and a shadow candidate is
// scored and logged next to production.
import { rm } from 'node:fs/promises';
import {
  brokenModel,
  registerModel,
  scorerSuite,
  testModel,
  waitFor,
} from '../../apps/scorer/test/support/scorer-harness';

const slate = Array.from({ length: 200 }, (_, i) => ({ item_id: `item-${i}`, position: i % 20 }));

describe('scorer model lifecycle (real registry, Kafka, Redis)', () => {
  const suite = scorerSuite({ SCORER_SHADOW_MODE: 'candidate' });
  let v1: string;
  let v2: string;

  beforeAll(async () => {
    [v1, v2] = [await testModel('swap', 1), await testModel('swap', 2)];
    await registerModel(suite.env.ch, 'swap-v1', v1, 'production');
    await (await suite.start()).waitServing();
  });

  /** Keeps `concurrency` requests in flight until stop(); records every outcome. */
  function load(concurrency: number, prefix: string) {
    const outcomes: { status: number; version: string | null; header: string | null; id?: string }[] = [];
    let running = true;
    let n = 0;
    const worker = async () => {
      while (running) {
        const res = await suite.scorer
          .score({
            request_id: `${prefix}-${n++}`,
            user_id: `user-${n % 7}`,
            candidates: slate,
          })
          .catch((err: Error) => ({
            status: -1,
            headers: new Headers(),
            body: { error: err.message } as never,
          }));
        outcomes.push({
          status: res.status,
          version: res.body.model_version ?? null,
          header: res.headers.get('x-model-version'),
          id: res.body.request_id,
        });
      }
    };
    const workers = Array.from({ length: concurrency }, worker);
    return {
      outcomes,
      async stop() {
        running = false;
        await Promise.all(workers);
      },
    };
  }

  it('swaps to a new production version under load without failing a request', async () => {
    const traffic = load(4, 'swap');
    await waitFor(
      'traffic on v1',
      async () => traffic.outcomes.filter((o) => o.version === 'swap-v1').length >= 5,
    );
    await registerModel(suite.env.ch, 'swap-v2', v2, 'production');
    await waitFor(
      'traffic on v2',
      async () => traffic.outcomes.filter((o) => o.version === 'swap-v2').length >= 5,
      120_000,
    );
    await traffic.stop();
    const failures = traffic.outcomes.filter((o) => o.status !== 200);
    expect(failures).toEqual([]);
    expect(traffic.outcomes.every((o) => o.header === o.version)).toBe(true);
    // Once a request saw v2, no later one saw v1 (one swap, no flapping).
    const firstV2 = traffic.outcomes.findIndex((o) => o.version === 'swap-v2');
    const lastV1 = traffic.outcomes.map((o) => o.version).lastIndexOf('swap-v1');
    expect(lastV1).toBeLessThan(firstV2 + 4); // at most the 4 requests already in flight finish on v1
    // Every answered request reached score_log, under the version that answered it.
    await waitFor('every load request in score_log', async () => {
      const rows = await suite.env.ch.query<{ request_id: string; model_version: string }>(
        `SELECT request_id, model_version FROM score_log FINAL WHERE startsWith(request_id, 'swap-')`,
      );
      const logged = new Map(rows.map((r) => [r.request_id, r.model_version]));
      return traffic.outcomes.every((o) => logged.get(o.id!) === o.version);
    });
  });

  it('keeps serving the old version when the new one fails to load', async () => {
    const bad = await brokenModel(v2);
    await registerModel(suite.env.ch, 'swap-bad', bad, 'production');
    try {
      await waitFor('the load failure', async () =>
        /mmctr_scorer_model_loads_total\{result="failed"\} [1-9]/.test(await suite.scorer.metrics()),
      );
    } finally {
      await rm(bad, { recursive: true, force: true }); // the failure is on record; the folder is litter
    }
    const traffic = load(2, 'bad');
    await waitFor('requests after the failure', async () => traffic.outcomes.length >= 10);
    await traffic.stop();
    expect(traffic.outcomes.every((o) => o.status === 200 && o.version === 'swap-v2')).toBe(true);
    const ready = (await suite.scorer.ready()).body;
    expect(ready.model_version).toBe('swap-v2');
    expect(suite.scorer.output()).toMatch(/"reason":"failed to load".*"msg":"model version skipped"/);
  });

  it('scores a shadow candidate off the response path and logs both', async () => {
    await registerModel(suite.env.ch, 'swap-cand', v1, 'candidate');
    await waitFor('shadow loaded', async () => {
      const r = (await suite.scorer.ready()).body;
      return r.shadow_model_version === 'swap-cand';
    });
    const res = await suite.scorer.score({
      request_id: 'shadow-1',
      user_id: 'u-shadow',
      candidates: slate.slice(0, 10),
    });
    expect(res.status).toBe(200);
    expect(res.body.model_version).toBe('swap-v2');
    const row = await waitFor('the shadow request in score_log', async () => {
      const [r] = await suite.env.ch.query<{
        model_version: string;
        shadow_model_version: string;
        ctrs: number[];
        shadow_ctrs: number[];
      }>(
        `SELECT model_version, shadow_model_version, ctrs, shadow_ctrs FROM score_log FINAL WHERE request_id = 'shadow-1'`,
      );
      return r;
    });
    expect(row.model_version).toBe('swap-v2');
    expect(row.shadow_model_version).toBe('swap-cand');
    expect(row.ctrs).toHaveLength(10);
    expect(row.shadow_ctrs).toHaveLength(10);
    expect(row.ctrs.map((c, i) => Math.abs(c - res.body.scores[i]!.ctr))).toEqual(row.ctrs.map(() => 0));
    expect(row.shadow_ctrs).not.toEqual(row.ctrs); // a different model (seed 1 vs 2)
  });
});
