import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { type BehaviourEvent, type CatalogueItem, validate } from '@mmctr/contracts';
import { resolveConfig, SMALL_PRESET } from './config';
import { generate, type OracleReport, type SynthSummary } from './generate';
import { readJsonl } from './jsonl';
import { auc } from './metrics';

// Three small-preset runs (a few seconds each) shared by every check below.
const cfg = resolveConfig(SMALL_PRESET, { seed: 42 });
const root = mkdtempSync(join(tmpdir(), 'mmctr-synth-'));
const dirA = join(root, 'a');
const dirB = join(root, 'b');

function hashTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = join(rel, name);
      if (statSync(join(dir, path)).isDirectory()) walk(path);
      else
        out.set(
          path,
          createHash('sha256')
            .update(readFileSync(join(dir, path)))
            .digest('hex'),
        );
    }
  };
  walk('');
  return out;
}

interface PTrueLine {
  event_id: string;
  request_id: string;
  item_id: string;
  p_true: number;
  p_expected: number;
  period: 'train' | 'validation' | 'test';
}

let first: Map<string, string>;
let second: Map<string, string>;
let otherSeed: Map<string, string>;
let summary: SynthSummary;
let events: BehaviourEvent[];
let items: CatalogueItem[];
let pTrue: PTrueLine[];
let oracle: OracleReport;
let meta: { split: { validation_start_ms: number; test_start_ms: number }; counts: { impressions: number } };

beforeAll(async () => {
  await generate(cfg, { outDir: dirA });
  first = hashTree(dirA);
  summary = await generate(cfg, { outDir: dirA });
  second = hashTree(dirA);
  await generate({ ...cfg, seed: 43 }, { outDir: dirB });
  otherSeed = hashTree(dirB);
  events = readJsonl<BehaviourEvent>(join(dirA, 'events.jsonl'));
  items = readJsonl<CatalogueItem>(join(dirA, 'items.jsonl'));
  pTrue = readJsonl<PTrueLine>(join(dirA, 'p_true.jsonl'));
  oracle = JSON.parse(readFileSync(join(dirA, 'oracle.json'), 'utf8')) as OracleReport;
  meta = JSON.parse(readFileSync(join(dirA, 'meta.json'), 'utf8')) as typeof meta;
}, 120_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

const impressions = (): BehaviourEvent[] => events.filter((e) => e.type === 'impression');
const clickKeys = (): Set<string> =>
  new Set(events.filter((e) => e.type === 'click').map((e) => `${e.request_id}/${e.item_id}`));

describe('determinism', () => {
  it('gives byte-identical files for the same seed, images included', () => {
    expect(first.size).toBe(7 + cfg.items.count);
    expect([...second.entries()]).toEqual([...first.entries()]);
  });

  it('gives different files for a different seed', () => {
    for (const file of ['events.jsonl', 'items.jsonl', 'p_true.jsonl', 'images/item-000001.png']) {
      expect(otherSeed.get(file)).toBeDefined();
      expect(otherSeed.get(file)).not.toBe(first.get(file));
    }
  });
});

describe('contracts and structure', () => {
  it('writes events and items that pass the contracts', () => {
    const bad = [...events.map((e) => validate('event', e)), ...items.map((i) => validate('item', i))].filter(
      (r) => !r.ok,
    );
    expect(bad).toEqual([]);
    expect(items).toHaveLength(cfg.items.count);
    expect(impressions()).toHaveLength(cfg.requests.impressions);
  });

  it('sorts events by time, with unique ids, and ties clicks and conversions to earlier events', () => {
    const ids = new Set(events.map((e) => e.event_id));
    expect(ids.size).toBe(events.length);
    const shown = new Map<string, BehaviourEvent>();
    const clicked = new Map<string, BehaviourEvent>();
    let last = 0;
    for (const e of events) {
      expect(e.ts_ms).toBeGreaterThanOrEqual(last);
      last = e.ts_ms;
      const key = `${e.request_id}/${e.item_id}`;
      if (e.type === 'impression') shown.set(key, e);
      const before = e.type === 'click' ? shown.get(key) : e.type === 'conversion' ? clicked.get(key) : e;
      expect(before?.user_id).toBe(e.user_id);
      expect(before!.ts_ms).toBeLessThanOrEqual(e.ts_ms);
      if (e.type === 'click') clicked.set(key, e);
    }
    expect(events.some((e) => e.type === 'conversion')).toBe(true);
  });

  it('writes one p_true line per impression, in the same order, with the right period', () => {
    const imps = impressions();
    expect(pTrue.map((p) => p.event_id)).toEqual(imps.map((e) => e.event_id));
    pTrue.forEach((p, i) => {
      const e = imps[i]!;
      expect([p.request_id, p.item_id]).toEqual([e.request_id, e.item_id]);
      expect(p.p_true).toBeGreaterThan(0);
      expect(p.p_true).toBeLessThan(1);
      const period =
        e.ts_ms >= meta.split.test_start_ms
          ? 'test'
          : e.ts_ms >= meta.split.validation_start_ms
            ? 'validation'
            : 'train';
      expect(p.period).toBe(period);
    });
  });

  it('renders every image as a decodable PNG of the configured size', async () => {
    const size = cfg.items.imageSize;
    for (const item of items) {
      expect(item.image && existsSync(item.image)).toBe(true);
      const { data, info } = await sharp(item.image).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height]).toEqual([size, size]);
      expect(data.length).toBe(size * size * info.channels);
    }
  });
});

describe('statistics', () => {
  it('keeps the overall CTR inside the configured range', () => {
    const ctr = clickKeys().size / impressions().length;
    expect(ctr).toBeGreaterThanOrEqual(cfg.clickModel.ctrRange[0]);
    expect(ctr).toBeLessThanOrEqual(cfg.clickModel.ctrRange[1]);
    expect(summary.ctr).toBeCloseTo(ctr, 6);
  });

  it('has the configured cold-start share, unseen before the test period', () => {
    const testStart = meta.split.test_start_ms;
    const cold = new Set(items.filter((i) => i.ts_ms >= testStart).map((i) => i.item_id));
    expect(cold.size).toBe(Math.round(cfg.items.coldStartShare * cfg.items.count));
    expect(summary.counts.coldStartItems).toBe(cold.size);
    const early = impressions().filter((e) => cold.has(e.item_id) && e.ts_ms < testStart);
    expect(early).toEqual([]);
    const shownCold = new Set(
      impressions()
        .filter((e) => cold.has(e.item_id))
        .map((e) => e.item_id),
    );
    expect(shownCold.size).toBeGreaterThan(cold.size / 2);
  });

  it('reports an oracle AUC well above chance, matching the files', () => {
    const clicks = clickKeys();
    const labels = pTrue.map((p) => (clicks.has(`${p.request_id}/${p.item_id}`) ? 1 : 0));
    const isTest = (i: number) => pTrue[i]!.period === 'test';
    const fromFiles = auc(
      pTrue.map((p) => p.p_true),
      labels,
      isTest,
    );
    expect(fromFiles).toBeCloseTo(oracle.p_true.test.auc, 4);
    expect(oracle.p_true.test.auc).toBeGreaterThan(0.7);
  });

  it('reports p_expected (p_true without the noise draw) per line, matching its oracle figures', () => {
    const clicks = clickKeys();
    const labels = pTrue.map((p) => (clicks.has(`${p.request_id}/${p.item_id}`) ? 1 : 0));
    const fromFiles = auc(
      pTrue.map((p) => p.p_expected),
      labels,
      (i) => pTrue[i]!.period === 'test',
    );
    expect(fromFiles).toBeCloseTo(oracle.p_expected.test.auc, 4);
    // The noise has mean zero on the logit: p_expected tracks p_true closely but not exactly.
    const logitGap = pTrue.map((p) =>
      Math.abs(Math.log(p.p_true / (1 - p.p_true)) - Math.log(p.p_expected / (1 - p.p_expected))),
    );
    expect(logitGap.some((g) => g > 1e-3)).toBe(true);
    expect(logitGap.reduce((a, g) => a + g, 0) / logitGap.length).toBeLessThan(cfg.clickModel.noiseSigma);
    expect(oracle.p_expected.overall.impressions).toBe(pTrue.length);
  });

  it('scores the content-blind oracle on the same cold-start rows, differently where tags are silent', () => {
    const blind = oracle.content_blind_cold_start_test;
    const seeing = oracle.p_expected_cold_start_test;
    expect(blind.impressions).toBe(seeing.impressions);
    expect(blind.impressions).toBeGreaterThan(0);
    expect(blind.clicks).toBe(seeing.clicks);
    expect(blind.auc).not.toBe(seeing.auc);
    expect(blind.auc).toBeGreaterThan(0.5);
  });

  it('puts a topic-only model clearly below the oracle (user and sequence effects exist)', () => {
    const topicOf = new Map(
      readJsonl<{ item_id: string; topic: number }>(join(dirA, 'latent_items.jsonl')).map((l) => [
        l.item_id,
        l.topic,
      ]),
    );
    const clicks = clickKeys();
    const labels = pTrue.map((p) => (clicks.has(`${p.request_id}/${p.item_id}`) ? 1 : 0));
    const shows = new Map<number, [number, number]>();
    pTrue.forEach((p, i) => {
      if (p.period !== 'train') return;
      const s = shows.get(topicOf.get(p.item_id)!) ?? [1, 20];
      shows.set(topicOf.get(p.item_id)!, [s[0] + labels[i]!, s[1] + 1]);
    });
    const score = pTrue.map((p) => {
      const [c, n] = shows.get(topicOf.get(p.item_id)!) ?? [1, 20];
      return c / n;
    });
    const topicOnly = auc(score, labels, (i) => pTrue[i]!.period === 'test');
    expect(topicOnly).toBeLessThanOrEqual(oracle.p_true.test.auc - 0.05);
    expect(oracle.topic_only_auc.test).toBeLessThanOrEqual(oracle.p_true.test.auc - 0.05);
  });

  it('makes short-term interest matter: the oracle without it ranks clearly worse', () => {
    expect(oracle.without_short_term_auc.overall).toBeLessThanOrEqual(oracle.p_true.overall.auc - 0.02);
  });
});
