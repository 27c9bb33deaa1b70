// Serving/training parity end to end (issue #7): the trainer trains and exports a model on this
// suite's ClickHouse data and registers it; the scorer serves it (item features from ClickHouse,
// histories from Redis) and logs every answer through Kafka into score_log; then the trainer's
// `mmctr-train parity` recomputes every served CTR in Python from the logged features (item
// features as of the request time, as the training-set builder joins them) and must agree
// within 1e-4 — and must fail on a logged CTR that the features do not explain.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ScoreResponse } from '@mmctr/scorer';
import {
  clickEvent,
  embeddingRow,
  itemRow,
  loggedRequestIds,
  recordClicks,
  scorerSuite,
  startScorer,
  waitFor,
} from '../../apps/scorer/test/support/scorer-harness';
import { rng } from '../support/ingest/events';
import { parity, promote, trainAndRegister } from '../support/trainer-cli';

const HOUR = 3_600_000;
const D = 128; // libs/features/feature_spec.json, which the trained model uses
const vec = (seed: number, n = D) =>
  Array.from({ length: n }, (_, i) => Math.sin(seed * 7.3 + i * 0.37) * 0.6);

// Training and exporting a model in beforeAll: more than the default per-test limit.
jest.setTimeout(420_000);

describe('serving/training parity: the trainer recomputes score_log (real stack)', () => {
  const suite = scorerSuite();
  let work: string;
  let version: string;
  const served: { id: string; candidates: number }[] = [];
  const now = Date.now();

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'mmctr-parity-'));
    const { env } = suite;

    // 40 items; p1..p10 changed two days ago (new category, tags, content and vector); p7..p9 have no
    // vector, p5's is shorter than D (zero-padded), p6's longer (truncated).
    const items: Record<string, unknown>[] = [];
    const vectors: Record<string, unknown>[] = [];
    for (let k = 1; k <= 40; k++) {
      const versions = k <= 10 ? [4, 2] : [4];
      versions.forEach((daysAgo, v) => {
        const ts = now - daysAgo * 24 * HOUR;
        items.push(
          itemRow({
            item_id: `p${k}`,
            ts_ms: ts,
            title: `title ${k}`,
            category: `c${(k + v) % 6}`,
            tags: v === 0 ? [`t${k % 4}`, `t${k % 7}`] : [`n${k % 3}`, '', `t${k % 5}`, 'a', 'b', 'c', 'd'],
            content_hash: `h${k}-${v}`,
          }),
        );
        if (k >= 7 && k <= 9) return;
        const n = k === 5 ? 100 : k === 6 ? 150 : D;
        vectors.push(embeddingRow(`p${k}`, vec(k * 10 + v, n), ts + 60_000, `h${k}-${v}`));
      });
    }
    await env.ch.insert('items', items);
    await env.ch.insert('item_embeddings', vectors);

    // Three days of impressions (a user clicks its own category far more often) for the trainer.
    const rand = rng(7);
    const events: Record<string, unknown>[] = [];
    const start = now - 3 * 24 * HOUR;
    for (let n = 0; n < 2400; n++) {
      const u = Math.floor(rand() * 20);
      const k = 1 + Math.floor(rand() * 40);
      const ts = start + Math.floor((n * (3 * 24 - 2) * HOUR) / 2400);
      const base = {
        ts_ms: ts,
        event_time: Math.floor(ts / 1000),
        user_id: `u${u}`,
        item_id: `p${k}`,
        request_id: `train-${n}`,
        position: n % 12,
        device: u % 2 ? 'ios' : 'android',
        placement: 'feed',
        country: u % 3 ? 'DE' : 'FR',
        value: 0,
        schema_version: 1,
        ingested_at: Math.floor(ts / 1000),
      };
      events.push({ ...base, event_id: `imp-${n}`, type: 'impression' });
      if (rand() < (k % 6 === u % 6 ? 0.6 : 0.06)) {
        events.push({ ...base, event_id: `clk-${n}`, type: 'click', ts_ms: ts + 2000 });
      }
    }
    await env.ch.insert('events', events);

    // Train, export and register with the trainer, then promote: the registry row the scorer follows.
    version = await trainAndRegister([
      ...['--database', env.database, '--model', 'qin', '--config', 'tiny', '--max-epochs', '2'],
      ...['--registry', join(work, 'registry'), '--trainset', join(work, 'trainset')],
    ]);
    await promote(env.database, version);

    // Histories in Redis: u1 has 70 clicks (more than L = 64) including an unknown item and items
    // without vectors; u2 a few; everyone else none.
    const click = (user: string, item_id: string, k: number) =>
      clickEvent(user, item_id, now - 3 * HOUR + k * 1000, `h-${user}-${k}`, `hist-${user}-${k}`);
    await recordClicks(env.prefix, [
      ...Array.from({ length: 70 }, (_, k) =>
        click('u1', k % 11 === 3 ? 'ghost' : `p${1 + ((k * 7) % 40)}`, k),
      ),
      ...['p7', 'ghost-2', 'p1', 'p12'].map((id, k) => click('u2', id, k)),
    ]);

    await (await suite.start()).waitServing(version);
  });

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** The k-th of the suite's varied requests. */
  const requestBody = (k: number) => {
    const positions = [0, 5, 31, 32, 200, 65535];
    const user = ['u1', 'u2', 'u3', `new-${k}`][k % 4]!;
    const context = [{ device: 'ios', placement: 'feed', country: 'DE' }, { device: 'android' }, undefined][
      k % 3
    ];
    const n = 1 + ((k * 7) % 30);
    const candidates = Array.from({ length: n }, (_, j) => {
      // p41..p45 and ghost-c are in no catalogue: scored as unknown
      const item_id = k % 5 === 0 && j === 2 ? 'ghost-c' : `p${1 + ((k * 5 + j * 3) % 45)}`;
      return k % 4 === 0 ? { item_id } : { item_id, position: positions[(j + k) % positions.length] };
    });
    return {
      request_id: `parity-${k}`,
      user_id: user,
      ...(context ? { context } : {}),
      // every other request at a later hour: hour_of_day comes from the logged ts_ms
      ...(k % 2 ? { ts_ms: now + k * HOUR } : {}),
      candidates,
    };
  };

  it('serves varied requests with the exported model', async () => {
    for (let k = 0; k < 24; k++) {
      const body = requestBody(k);
      const n = body.candidates.length;
      const res = await suite.scorer.score(body);
      expect(res.status).toBe(200);
      expect(res.body.model_version).toBe(version);
      expect(res.body.degraded).toBe(false);
      served.push({ id: res.body.request_id, candidates: n });
    }
    await waitFor('every served request in score_log', async () => {
      const logged = await loggedRequestIds(suite.env.ch);
      return served.every((r) => logged.has(r.id));
    });
  });

  it('mmctr-train parity recomputes every served CTR within 1e-4', async () => {
    expect(served).toHaveLength(24);
    const run = await parity(suite.env.database, version);
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    const r = run.result!;
    expect(r).toMatchObject({
      ok: true,
      model_version: version,
      rows_checked: served.length,
      candidates_checked: served.reduce((a, x) => a + x.candidates, 0),
      candidates_over_tolerance: 0,
      degraded_rows_skipped: 0,
      spec_mismatch_rows: 0,
      malformed_rows: 0,
    });
    expect(r.max_abs_diff).toBeLessThanOrEqual(1e-4);
    expect(r.engine).toMatch(/^onnxruntime/);
    // The slates exercised history, unknown items and items without a vector; the catalogue did not
    // change after the requests, so the scorer's latest version is the as-of version everywhere.
    expect(r.item_refs.history).toBeGreaterThan(64);
    expect(r.item_refs.unknown).toBeGreaterThan(0);
    expect(r.item_refs.without_vector).toBeGreaterThan(0);
    expect(r.item_refs.changed_after_request).toBe(0);
    const progress = run.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event: string; rows_checked: number });
    expect(progress.at(-1)).toMatchObject({ event: 'parity.progress', rows_checked: served.length });
  });

  it('fails when a logged CTR is not what the logged features give', async () => {
    const { env } = suite;
    const [row] = await env.ch.query<Record<string, unknown> & { ctrs: number[]; ts_ms: string }>(
      `SELECT * FROM score_log FINAL WHERE request_id = 'parity-3'`,
    );
    const ctrs = [...row!.ctrs];
    ctrs[0] = ctrs[0]! + (ctrs[0]! < 0.5 ? 0.01 : -0.01);
    const ts = Number(row!.ts_ms);
    await env.ch.insert('score_log', [
      {
        ...row,
        request_id: 'parity-3-altered',
        ts_ms: ts,
        event_time: Math.floor(ts / 1000),
        ctrs,
        ingested_at: Math.floor(Date.now() / 1000),
      },
    ]);
    const run = await parity(env.database, version, ['--quiet']);
    expect(run.code).toBe(1);
    const r = run.result!;
    expect(r.ok).toBe(false);
    expect(r.rows_checked).toBe(served.length + 1);
    expect(r.candidates_over_tolerance).toBe(1);
    expect(r.worst[0]).toMatchObject({ request_id: 'parity-3-altered' });
    expect(Math.abs(r.worst[0]!.abs_diff - 0.01)).toBeLessThan(1e-6);
  });

  it('micro-batching: concurrent requests sharing runs of the batch graph get the CTRs each gets alone', async () => {
    // Fixed times: the answers must not depend on when the requests run.
    const bodies = Array.from({ length: 24 }, (_, k) => ({
      ...requestBody(k),
      request_id: `micro-batch-${k}`,
      ts_ms: now + k * HOUR,
    }));
    const alone: ScoreResponse[] = [];
    for (const body of bodies) alone.push((await suite.scorer.score(body)).body);
    const batching = await startScorer({
      SCORER_MICRO_BATCH: 'true',
      SCORER_MICRO_BATCH_WINDOW_MS: '100',
      SCORER_SCORE_LOG_ENABLED: 'false',
      SCORE_LOG_SINK_ENABLED: 'false',
    });
    try {
      await batching.waitServing(version);
      const together = await Promise.all(bodies.map((body) => batching.score(body)));
      together.forEach((res, k) => {
        expect(res.status).toBe(200);
        expect(res.body.degraded).toBe(false);
        const want = alone[k]!.scores;
        expect(res.body.scores.map((s) => s.item_id)).toEqual(want.map((s) => s.item_id));
        const worst = Math.max(...res.body.scores.map((s, i) => Math.abs(s.ctr - want[i]!.ctr)));
        expect(worst).toBeLessThan(1e-5);
      });
      const metrics = await batching.metrics();
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
      // every request went through the batcher, and fewer runs than requests means runs were shared
      expect(value('mmctr_scorer_micro_batch_requests_sum')).toBe(24);
      expect(value('mmctr_scorer_micro_batch_requests_count')).toBeLessThan(24);
    } finally {
      await batching.close();
    }
  });
});
