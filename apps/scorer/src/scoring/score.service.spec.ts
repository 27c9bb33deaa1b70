import type { Logger } from 'pino';
import { rowsOf, type KeyColumns } from '@mmctr/aggregates';
import type { AggregateRepository } from '../aggregates/aggregate.repository';
import { AggregateReadsService } from '../aggregates/aggregate-reads.service';
import type { ScoreLogRecord } from '@mmctr/contracts';
import type { ScorerConfig } from '../config/scorer-config';
import type { HistoryEntry } from '@mmctr/online-store';
import type { EntityCacheService } from '../entities/entity-cache.service';
import type { HistoryRepository } from '../history/history.repository';
import { ItemCache } from '../items/item-cache';
import type { ItemCacheService } from '../items/item-cache.service';
import { ScorerMetrics } from '../metrics/scorer-metrics';
import type { ModelManager, ModelRole } from '../model/model-manager.service';
import { fakeModel, type FakeModel } from '../../test/support/fake-models';
import { demoLayout } from '../../test/support/test-layout';
import { aggregatesLayout } from '../../test/support/aggregate-layout';
import type { ServingLayout } from '../layout/serving-layout';
import type { ScoreLogProducer } from '../score-log/score-log.producer';
import { scoreLogRecord } from '../score-log/score-log-record';
import { DeadlineExceededError, type WorkDeadline } from '../admission/work-deadline';
import { ScoreService } from './score.service';

// Counts record builds; the real builder does the work.
jest.mock('../score-log/score-log-record', () => {
  const actual = jest.requireActual<typeof import('../score-log/score-log-record')>(
    '../score-log/score-log-record',
  );
  return { ...actual, scoreLogRecord: jest.fn(actual.scoreLogRecord) };
});

const PRIOR = 0.02;

/** A ScoreService over fake models (by role), an empty item cache, no history; records what it logs. */
function setup(
  models: Partial<Record<ModelRole, FakeModel>>,
  recent: () => Promise<HistoryEntry[]> = () => Promise.resolve([]),
  opts: { layout?: ServingLayout; aggregates?: Partial<AggregateRepository>; timeoutMs?: number } = {},
) {
  const manager = {
    lease: (role: ModelRole) => {
      const model = models[role];
      return model ? { model, done: () => undefined } : null;
    },
  } as unknown as ModelManager;
  const history = {
    read: async () => ({ sequences: [await recent()], attributes: null }),
  } as unknown as HistoryRepository;
  const layout = opts.layout ?? demoLayout();
  const lookups: string[][] = [];
  const items = {
    cache: new ItemCache(layout),
    lookup: (ids: readonly string[]) => {
      lookups.push([...ids]);
      return Promise.resolve({ rows: new Int32Array(ids.length).fill(-1), failed: false });
    },
  } as unknown as ItemCacheService;
  const published: ScoreLogRecord[] = [];
  const scoreLog = {
    enabled: true,
    publish: (r: ScoreLogRecord) => published.push(r),
  } as unknown as ScoreLogProducer;
  const metrics = new ScorerMetrics();
  const warnings: string[] = [];
  const logger = {
    warn: (_: unknown, msg: string) => warnings.push(msg),
    error: (_: unknown, msg: string) => warnings.push(msg),
    info: () => undefined,
  } as unknown as Logger;
  const config = {
    SCORER_REDIS_TIMEOUT_MS: opts.timeoutMs ?? 1000,
    SCORER_PRIOR_CTR: PRIOR,
  } as unknown as ScorerConfig;
  const entities = {
    get: () => undefined,
    load: () => Promise.resolve(true),
  } as unknown as EntityCacheService;
  const service = new ScoreService(
    config,
    manager,
    history,
    items,
    scoreLog,
    metrics,
    logger,
    layout,
    entities,
    new AggregateReadsService(
      layout,
      { fallbacks: [], read: () => Promise.resolve([]), ...opts.aggregates } as AggregateRepository,
      config,
      metrics,
    ),
  );
  const score = (n: number, tsMs?: number, deadline?: WorkDeadline) =>
    service.score(
      {
        request_id: 'r1',
        user_id: 'u1',
        ...(tsMs === undefined ? {} : { ts_ms: tsMs }),
        candidates: Array.from({ length: n }, (_, i) => ({ item_id: `i${i}` })),
      },
      undefined,
      deadline,
    );
  /** The record queued for the score log (after the response, on setImmediate). */
  const logged = async () => {
    await new Promise((r) => setImmediate(r));
    return published;
  };
  const counter = async (name: string) =>
    (await metrics.registry.getSingleMetric(name)!.get()).values.map((v) => [v.labels, v.value]);
  /** Samples per stage of mmctr_scorer_stage_duration_seconds. */
  const stageSamples = async (): Promise<Record<string, number>> =>
    Object.fromEntries(
      (await metrics.stageSeconds.get()).values
        .filter((v) => (v as { metricName?: string }).metricName?.endsWith('_count'))
        .map((v) => [String(v.labels.stage), v.value]),
    );
  return { score, logged, counter, warnings, lookups, stageSamples };
}

const fixed = (ctrs: number[]) => () => ctrs;

describe('ScoreService: non-finite CTRs', () => {
  it('answers the production model as is when every CTR is finite', async () => {
    const fallback = fakeModel('v1', fixed([0.5, 0.5]));
    const t = setup({ production: fakeModel('v2', fixed([0.1, 0.2])), fallback });
    const res = await t.score(2);
    expect(res).toMatchObject({ model_version: 'v2', degraded: false });
    expect(res.scores.map((s) => s.ctr)).toEqual([0.1, 0.2].map(Math.fround));
    expect(fallback.runs).toBe(0);
    expect(await t.counter('mmctr_scorer_non_finite_responses_total')).toEqual([]);
  });

  it('re-scores the request with the fallback version and answers (and logs) that version, degraded', async () => {
    const t = setup({
      production: fakeModel('v2', fixed([NaN, 0.2, Infinity])),
      fallback: fakeModel('v1', fixed([0.3, 0.4, 0.5])),
    });
    const res = await t.score(3);
    expect(res).toMatchObject({ model_version: 'v1', degraded: true });
    expect(res.scores.map((s) => s.ctr)).toEqual([0.3, 0.4, 0.5].map(Math.fround));
    const [record] = await t.logged();
    expect(record).toMatchObject({ model_version: 'v1', degraded: true, ctrs: res.scores.map((s) => s.ctr) });
    expect(await t.counter('mmctr_scorer_non_finite_responses_total')).toEqual([[{ fallback: 'model' }, 1]]);
    expect(await t.counter('mmctr_scorer_degraded_responses_total')).toEqual([[{ reason: 'non_finite' }, 1]]);
    expect(t.warnings).toEqual(['model answered a non-finite CTR; answering the fallback']);
  });

  it('answers the prior for the non-finite rows when there is no fallback version', async () => {
    const t = setup({ production: fakeModel('v2', fixed([NaN, 0.2, -Infinity])) });
    const res = await t.score(3);
    expect(res).toMatchObject({ model_version: 'v2', degraded: true });
    expect(res.scores.map((s) => s.ctr)).toEqual([PRIOR, 0.2, PRIOR].map(Math.fround));
    const [record] = await t.logged();
    expect(record!.ctrs.every(Number.isFinite)).toBe(true);
    expect(record!.degraded).toBe(true);
    expect(await t.counter('mmctr_scorer_non_finite_responses_total')).toEqual([[{ fallback: 'prior' }, 1]]);
  });

  it('answers the prior when the fallback version is not finite either', async () => {
    const t = setup({
      production: fakeModel('v2', fixed([NaN, 0.2])),
      fallback: fakeModel('v1', fixed([0.3, NaN])),
    });
    const res = await t.score(2);
    expect(res).toMatchObject({ model_version: 'v2', degraded: true });
    expect(res.scores.map((s) => s.ctr)).toEqual([PRIOR, 0.2].map(Math.fround));
    expect(await t.counter('mmctr_scorer_non_finite_responses_total')).toEqual([[{ fallback: 'prior' }, 1]]);
  });
});

describe('ScoreService: stages', () => {
  it('records one sample per stage per request, and looks up the history items after the candidates', async () => {
    const t = setup({ production: fakeModel('v1', fixed([0.1, 0.2])) }, () =>
      Promise.resolve([
        { item_id: 'h1', ts_ms: 5 },
        { item_id: 'h2', ts_ms: 4 },
      ]),
    );
    await t.score(2);
    await t.score(2);
    expect(await t.stageSamples()).toEqual({ history: 2, items: 2, encode: 2, inference: 2 });
    expect(t.lookups.slice(0, 2)).toEqual([
      ['i0', 'i1'],
      ['h1', 'h2'],
    ]);
    const [record] = await t.logged();
    expect(record).toMatchObject({ history_item_ids: ['h1', 'h2'], history_ts_ms: [5, 4], degraded: false });
    expect(await t.counter('mmctr_scorer_inference_duration_seconds')).not.toEqual([]);
  });

  it('answers without the history, degraded, when the history call fails; every stage is still timed', async () => {
    const t = setup({ production: fakeModel('v1', fixed([0.1])) }, () =>
      Promise.reject(new Error('Connection is closed.')),
    );
    const res = await t.score(1);
    expect(res).toMatchObject({ model_version: 'v1', degraded: true });
    expect(t.lookups).toEqual([['i0']]);
    expect(await t.stageSamples()).toEqual({ history: 1, items: 1, encode: 1, inference: 1 });
    expect(await t.counter('mmctr_scorer_degraded_responses_total')).toEqual([[{ reason: 'history' }, 1]]);
    const [record] = await t.logged();
    expect(record).toMatchObject({ history_item_ids: [], degraded: true });
  });

  it('answers the prior when inference fails, with the stages before it timed', async () => {
    const t = setup({
      production: fakeModel('v1', () => {
        throw new Error('session.run failed');
      }),
    });
    const res = await t.score(2);
    expect(res).toMatchObject({ degraded: true });
    expect(res.scores.map((s) => s.ctr)).toEqual([PRIOR, PRIOR]);
    expect(await t.stageSamples()).toEqual({ history: 1, items: 1, encode: 1 });
    expect(await t.counter('mmctr_scorer_degraded_responses_total')).toEqual([[{ reason: 'inference' }, 1]]);
    expect(t.warnings).toEqual(['inference failed; answering priors']);
  });
});

describe('ScoreService: the deadline the client sent', () => {
  it('skips the run and logs nothing when the deadline passed before the model could run', async () => {
    await new Promise((r) => setImmediate(r)); // earlier tests' records
    const production = fakeModel('v1', fixed([0.1, 0.2]));
    const t = setup({ production });
    await expect(t.score(2, undefined, { passed: () => true })).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(production.runs).toBe(0);
    expect(await t.logged()).toEqual([]);
    expect(await t.stageSamples()).toEqual({ history: 1, items: 1, encode: 1 });
  });

  it('scores as usual while the deadline is ahead', async () => {
    const production = fakeModel('v1', fixed([0.1]));
    const t = setup({ production });
    const res = await t.score(1, undefined, { passed: () => false });
    expect(res).toMatchObject({ model_version: 'v1', degraded: false });
    expect(production.runs).toBe(1);
  });
});

describe('ScoreService: score log hand-off', () => {
  it('builds and queues the record only after the response, with what answered', async () => {
    await new Promise((r) => setImmediate(r)); // earlier tests' records
    const t = setup({ production: fakeModel('v2', fixed([0.1, 0.2])) });
    jest.mocked(scoreLogRecord).mockClear();
    const res = await t.score(2);
    expect(scoreLogRecord).not.toHaveBeenCalled();
    const [r, ...more] = await t.logged();
    expect(more).toEqual([]);
    expect(scoreLogRecord).toHaveBeenCalledTimes(1);
    expect(r).toMatchObject({
      request_id: 'r1',
      user_id: 'u1',
      model_version: 'v2',
      item_ids: ['i0', 'i1'],
      positions: [0, 1],
      candidate_context: [{ position: 0 }, { position: 1 }],
      ctrs: res.scores.map((s) => s.ctr),
      degraded: false,
    });
  });
});

describe('ScoreService: aggregate windows', () => {
  const layout = aggregatesLayout();
  const names = layout.aggregates.map((a) => a.name);
  /** The raw values a fake repository answers: 3 clicks for the user, per candidate k: k + 0.5 etc. */
  const answer = (keys: ReadonlyMap<string, KeyColumns>) =>
    layout.aggregates.map((a, i) =>
      Float64Array.from({ length: keys.get(a.spec)!.count }, (_, k) => (a.side === 'user' ? 3 : k + i / 10)),
    );
  const capture = () => {
    const seen: { userNum: number[]; candNum: number[]; candCat: number[] }[] = [];
    const model = fakeModel(
      'v1',
      (buffers, batch) => {
        const input = (name: string) => layout.inputs.findIndex((x) => x.name === name);
        seen.push({
          userNum: Array.from(buffers.values(input('user_num')).subarray(0, 1)),
          candNum: Array.from(buffers.values(input('cand_num')).subarray(0, 4 * batch)),
          candCat: Array.from({ length: 4 * batch }, (_, i) =>
            Number(buffers.ids(input('cand_cat')).data[i]),
          ),
        });
        return new Array<number>(batch).fill(0.1);
      },
      64,
      layout,
    );
    return { model, seen };
  };

  it('reads every window of the request as of its time, feeds the raw values to the slots and logs them', async () => {
    const reads: { keys: ReadonlyMap<string, KeyColumns>; t: number }[] = [];
    const { model, seen } = capture();
    const t = setup({ production: model }, undefined, {
      layout,
      aggregates: {
        fallbacks: layout.aggregates.map(() => 0),
        read: (keys, tMs) => {
          reads.push({ keys, t: tMs });
          return Promise.resolve(answer(keys));
        },
      },
    });
    const res = await t.score(2);
    expect(res.degraded).toBe(false);
    expect(reads).toHaveLength(1);
    expect(Object.fromEntries([...reads[0]!.keys].map(([spec, k]) => [spec, rowsOf(k)]))).toEqual({
      user: [['u1']],
      item: [['i0'], ['i1']],
      // Unknown items: the category's fallback, as ingest counts an item it has not stored.
      'user+item.category': [
        ['u1', ''],
        ['u1', ''],
      ],
    });
    const [fed] = seen;
    // user_clicks@24h: log1p(3) in the user's numeric slot; item_click_level@24h (k + 0.1): bucket 1 + (#boundaries <= v)
    expect(fed!.userNum[0]).toBeCloseTo(Math.log1p(3), 6);
    expect(names.indexOf('item_click_level@24h')).toBe(1); // raw 0.1 and 1.1: buckets 1 and 2
    const catSlot = layout.layout.candidate.categorical.findIndex((s) => s.window === '24h');
    expect([0, 1].map((b) => fed!.candCat[b * 4 + catSlot])).toEqual([1, 2]);
    const ctr1h = layout.layout.candidate.numeric.findIndex(
      (s) => s.feature === 'item_ctr' && s.window === '1h',
    );
    expect([0, 1].map((b) => fed!.candNum[b * 4 + ctr1h])).toEqual(
      [0, 1].map((b) => Math.fround(b + names.indexOf('item_ctr@1h') / 10)),
    );
    const [record] = await t.logged();
    expect(record!.aggregates).toEqual({
      as_of_ms: reads[0]!.t,
      user: { 'user_clicks@24h': 3 },
      candidates: Object.fromEntries(
        layout.aggregates
          .map((a, i) => [a, i] as const)
          .filter(([a]) => a.side === 'candidate')
          .map(([a, i]) => [a.name, [0, 1].map((k) => k + i / 10)]),
      ),
    });
    expect(await t.stageSamples()).toEqual({ history: 1, items: 1, aggregates: 1, encode: 1, inference: 1 });
  });

  it("reads as of the request's ts_ms when it has one, else now", async () => {
    const asOf: number[] = [];
    const t = setup({ production: capture().model }, undefined, {
      layout,
      aggregates: { read: (keys, tMs) => (asOf.push(tMs), Promise.resolve(answer(keys))) },
    });
    await t.score(1, 1_767_225_600_123);
    const before = Date.now();
    await t.score(1);
    expect(asOf[0]).toBe(1_767_225_600_123);
    expect(asOf[1]).toBeGreaterThanOrEqual(before);
    const records = await t.logged();
    expect(records.map((r) => r.aggregates!.as_of_ms)).toEqual(asOf);
  });

  it.each([
    ['fails', () => Promise.reject(new Error('Connection is closed.'))],
    ['does not answer in time', () => new Promise<Float64Array[]>(() => undefined)],
  ])('answers with the declared fallbacks, degraded, when the read %s', async (_what, read) => {
    const { model, seen } = capture();
    const t = setup({ production: model }, undefined, {
      layout,
      timeoutMs: 20,
      aggregates: {
        fallbacks: layout.aggregates.map((a) => (a.aggregation === 'item_ctr' ? 0.05 : 0)),
        read,
      },
    });
    const res = await t.score(2);
    expect(res.degraded).toBe(true);
    expect(res.scores).toHaveLength(2);
    expect(await t.counter('mmctr_scorer_degraded_responses_total')).toEqual([[{ reason: 'aggregates' }, 1]]);
    const ctr1h = layout.layout.candidate.numeric.findIndex(
      (s) => s.feature === 'item_ctr' && s.window === '1h',
    );
    expect(seen[0]!.candNum[ctr1h]).toBeCloseTo(0.05, 6);
    const [record] = await t.logged();
    expect(record!.aggregates!.candidates['item_ctr@7d']).toEqual([0.05, 0.05]);
    expect(record!.aggregates!.user).toEqual({ 'user_clicks@24h': 0 });
  });
});
