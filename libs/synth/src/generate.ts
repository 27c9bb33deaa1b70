// Orchestration: world -> intercept calibration -> event simulation (streamed to JSONL) while the
// images render on sharp's threads -> catalogue, meta and oracle files.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type BehaviourEvent, SCHEMA_VERSION } from '@mmctr/contracts';
import { CandidateIndex } from './candidates';
import { ClickModel, logit } from './click-model';
import {
  COUNTRIES,
  DEVICES,
  type DeepPartial,
  PLACEMENTS,
  type Period,
  type Periods,
  type SynthConfig,
  periodsOf,
  resolveConfig,
} from './config';
import { renderImages } from './image';
import { generateItems, type ItemTable } from './items';
import { LineWriter } from './line-writer';
import { auc, logLoss } from './metrics';
import { Rng } from './prng';
import { generateSchedule, requestId } from './schedule';
import {
  type Delayed,
  type Impression,
  type SimulationStats,
  type Sink,
  simulate,
  type World,
} from './simulate';
import { generateUsers, round, userLatent } from './users';
import { topicVocabulary } from './vocabulary';

export const DEFAULT_OUT_DIR = '.local/synth';

export const OUTPUT_FILES = {
  items: 'items.jsonl',
  events: 'events.jsonl',
  pTrue: 'p_true.jsonl',
  meta: 'meta.json',
  oracle: 'oracle.json',
  latentItems: 'latent_items.jsonl',
  latentUsers: 'latent_users.jsonl',
  images: 'images',
} as const;

export type Phase = 'calibration' | 'events' | 'images';

export interface ProgressUpdate {
  phase: Phase;
  done: number;
  total: number;
}

export interface GenerateOptions {
  /** Output directory (default .local/synth); image paths in items.jsonl are absolute. */
  outDir?: string;
  onProgress?: (p: ProgressUpdate) => void;
}

export interface Scores {
  impressions: number;
  clicks: number;
  ctr: number;
  auc: number;
  logloss: number;
}

export interface OracleReport {
  /** p_true as the model: the best any model can do, per period and overall. */
  p_true: Record<Period | 'overall', Scores>;
  /** p_true on the test impressions of cold-start items. */
  p_true_cold_start_test: Scores;
  /**
   * p_expected = E over the per-impression logit noise of p_true. The noise is independent of
   * everything a model or the oracle could know, so this is the best prediction possible; p_true
   * also knows each impression's noise draw, which is part of the coin flip.
   */
  p_expected: Record<Period | 'overall', Scores>;
  p_expected_cold_start_test: Scores;
  /**
   * The same cold-start rows for an oracle that knows everything but the topic of cold-start items
   * whose tags do not name it (averaged over their category's topics): how much content (text,
   * image) can add on cold-start items is p_expected_cold_start_test.auc minus this AUC.
   */
  content_blind_cold_start_test: Scores;
  /** p_true without the short-term term (AUC): what ignoring the click history costs. */
  without_short_term_auc: Record<'test' | 'overall', number>;
  /** Click rate per item topic estimated on train, scored on test (AUC): a floor for models. */
  topic_only_auc: { test: number };
}

export interface SynthSummary {
  outDir: string;
  seed: number;
  intercept: number;
  periods: Periods;
  counts: {
    items: number;
    coldStartItems: number;
    users: number;
    requests: number;
    impressions: number;
    clicks: number;
    conversions: number;
  };
  ctr: number;
  oracle: OracleReport;
}

const PERIODS: readonly Period[] = ['train', 'validation', 'test'];

/** Finds the intercept giving the target CTR on a pilot run over a share of the users. */
async function calibrate(world: World, rng: Rng, onStep: (step: number) => void): Promise<number> {
  const cm = world.cfg.clickModel;
  const step = Math.max(1, Math.round(1 / cm.calibrationUserShare));
  const includeUser = (u: number): boolean => u % step === 0;
  const target = logit(cm.targetCtr);
  const pilotSeed = rng.nextU32();
  let intercept = target;
  for (let i = 0; i < cm.calibrationSteps; i++) {
    // Same pilot stream every step, and the mean of p_true rather than sampled clicks: the CTR is
    // then a smooth function of the intercept.
    const stats = await simulate(world, intercept, new Rng(pilotSeed, 'pilot'), { includeUser });
    onStep(i + 1);
    if (stats.impressions === 0) break;
    // Shifting the intercept moves logit(mean p) by a bit less than the shift: the update
    // undershoots monotonically and converges without oscillating.
    const delta = target - logit(Math.min(1 - 1e-9, Math.max(1e-9, stats.meanPTrue)));
    intercept += delta;
    if (Math.abs(delta) < 1e-3) break;
  }
  onStep(cm.calibrationSteps);
  return intercept;
}

function eventJson(
  type: BehaviourEvent['type'],
  eventId: string,
  ts: number,
  world: World,
  e: { request: number; user: number; item: number; position: number; placement: number },
  value?: number,
): string {
  const { users, items } = world;
  const event: BehaviourEvent = {
    schema_version: SCHEMA_VERSION,
    event_id: eventId,
    type,
    ts_ms: ts,
    user_id: users.ids[e.user] as string,
    item_id: items.ids[e.item] as string,
    request_id: requestId(e.request),
    position: e.position,
    context: {
      device: DEVICES[users.device[e.user] as number],
      placement: PLACEMENTS[e.placement],
      country: COUNTRIES[users.country[e.user] as number],
    },
  };
  if (value !== undefined) event.value = value;
  return JSON.stringify(event);
}

function scores(p: Float64Array, y: Uint8Array, include: (i: number) => boolean): Scores {
  let impressions = 0;
  let clicks = 0;
  for (let i = 0; i < p.length; i++) {
    if (!include(i)) continue;
    impressions++;
    clicks += y[i] as number;
  }
  return {
    impressions,
    clicks,
    ctr: impressions ? round(clicks / impressions) : 0,
    auc: round(auc(p, y, include)),
    logloss: round(logLoss(p, y, include)),
  };
}

function topicOnlyAuc(
  items: ItemTable,
  item: Int32Array,
  y: Uint8Array,
  period: Uint8Array,
  topics: number,
): number {
  // Beta(1, 19) prior: topics with few train impressions fall back towards 5%.
  const shows = new Float64Array(topics).fill(20);
  const clicks = new Float64Array(topics).fill(1);
  for (let i = 0; i < item.length; i++) {
    if (period[i] !== 0) continue;
    const t = items.topic[item[i] as number] as number;
    shows[t] = (shows[t] as number) + 1;
    clicks[t] = (clicks[t] as number) + (y[i] as number);
  }
  const score = Float64Array.from(item, (it) => {
    const t = items.topic[it] as number;
    return (clicks[t] as number) / (shows[t] as number);
  });
  return round(auc(score, y, (i) => period[i] === 2));
}

export async function generate(
  config: DeepPartial<SynthConfig> | SynthConfig = {},
  opts: GenerateOptions = {},
): Promise<SynthSummary> {
  const cfg = resolveConfig(config);
  const outDir = resolve(opts.outDir ?? DEFAULT_OUT_DIR);
  const imageDir = join(outDir, OUTPUT_FILES.images);
  const progress = opts.onProgress ?? (() => undefined);
  const streams = forkStreams(cfg.seed);
  const world = buildWorld(cfg, streams, imageDir);

  await rm(imageDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const images = startImageRender(world, imageDir, progress);
  const intercept = await calibrate(world, streams.pilot, (done) =>
    progress({ phase: 'calibration', done, total: cfg.clickModel.calibrationSteps }),
  );
  const { stats, recorded } = await simulateToFiles(world, intercept, streams.simulation, outDir, progress);
  await writeCatalogueAndLatents(world, outDir);

  const n = stats.impressions;
  const oracle = oracleReport(recorded, n, world);
  const counts = {
    items: world.items.count,
    coldStartItems: countColdStart(world.items),
    users: world.users.count,
    requests: world.schedule.count,
    impressions: n,
    clicks: stats.clicks,
    conversions: stats.conversions,
  };
  const ctr = round(n ? stats.clicks / n : 0);
  await writeFile(
    join(outDir, OUTPUT_FILES.meta),
    JSON.stringify(metaJson(cfg, world.periods, intercept, counts, ctr), null, 2) + '\n',
  );
  await writeFile(join(outDir, OUTPUT_FILES.oracle), JSON.stringify(oracle, null, 2) + '\n');
  await images;

  return { outDir, seed: cfg.seed, intercept, periods: world.periods, counts, ctr, oracle };
}

interface Streams {
  items: Rng;
  users: Rng;
  schedule: Rng;
  clickModel: Rng;
  pilot: Rng;
  simulation: Rng;
}

/** One root stream, forked per concern in a fixed order: the order is part of the output format. */
function forkStreams(seed: number): Streams {
  const root = new Rng(seed, 'mmctr-synth');
  const items = root.fork('items');
  const users = root.fork('users');
  const schedule = root.fork('schedule');
  const clickModel = root.fork('click-model');
  const pilot = root.fork('pilot');
  const simulation = root.fork('simulation');
  return { items, users, schedule, clickModel, pilot, simulation };
}

/** Catalogue, users, request schedule and click model: everything the simulation reads. */
function buildWorld(cfg: SynthConfig, streams: Streams, imageDir: string): World {
  const periods = periodsOf(cfg);
  const items = generateItems(cfg, periods, streams.items, (id) => join(imageDir, `${id}.png`));
  const users = generateUsers(cfg, streams.users);
  const schedule = generateSchedule(cfg, periods, users, streams.schedule);
  return {
    cfg,
    periods,
    items,
    users,
    schedule,
    index: new CandidateIndex(items, cfg.items.topics),
    model: new ClickModel(cfg, streams.clickModel),
  };
}

/** Images render on sharp's threads while the main thread simulates events. */
function startImageRender(
  { cfg, items }: World,
  imageDir: string,
  progress: (p: ProgressUpdate) => void,
): Promise<void> {
  const images = renderImages(
    items.ids.map((itemId, i) => ({
      itemId,
      topic: items.topic[i] as number,
      seed: items.imageSeed[i] as number,
    })),
    imageDir,
    {
      size: cfg.items.imageSize,
      concurrency: cfg.items.imageConcurrency,
      compressionLevel: cfg.items.pngCompressionLevel,
      onDone: (done) => progress({ phase: 'images', done, total: items.count }),
    },
  );
  // Don't leave the render promise unobserved if the simulation throws first.
  images.catch(() => undefined);
  return images;
}

/** Per-impression numbers kept in memory for the oracle figures (indexed by impression). */
interface RecordedImpressions {
  pTrue: Float64Array;
  pExpected: Float64Array;
  pContentBlind: Float64Array;
  logitWithoutShortTerm: Float64Array;
  label: Uint8Array;
  period: Uint8Array;
  item: Int32Array;
}

function allocateRecord(total: number): RecordedImpressions {
  return {
    pTrue: new Float64Array(total),
    pExpected: new Float64Array(total),
    pContentBlind: new Float64Array(total),
    logitWithoutShortTerm: new Float64Array(total),
    label: new Uint8Array(total),
    period: new Uint8Array(total),
    item: new Int32Array(total),
  };
}

/** The real run: events.jsonl and p_true.jsonl stream out, the oracle inputs stay in memory. */
async function simulateToFiles(
  world: World,
  intercept: number,
  rng: Rng,
  outDir: string,
  progress: (p: ProgressUpdate) => void,
): Promise<{ stats: SimulationStats; recorded: RecordedImpressions }> {
  const total = world.cfg.requests.impressions;
  const recorded = allocateRecord(total);
  const events = new LineWriter(join(outDir, OUTPUT_FILES.events));
  const pTrueOut = new LineWriter(join(outDir, OUTPUT_FILES.pTrue));
  const stats = await simulate(world, intercept, rng, {
    sink: fileSink(world, recorded, events, pTrueOut),
    onProgress: (done) => progress({ phase: 'events', done, total }),
  });
  await Promise.all([events.close(), pTrueOut.close()]);
  return { stats, recorded };
}

function fileSink(world: World, rec: RecordedImpressions, events: LineWriter, pTrueOut: LineWriter): Sink {
  return {
    impression(e: Impression): void {
      // Rounded once: the file and the oracle figures use the same numbers.
      const p = Number(e.pTrue.toPrecision(7));
      rec.pTrue[e.n] = p;
      const expected = Number(e.pExpected.toPrecision(7));
      rec.pExpected[e.n] = expected;
      rec.pContentBlind[e.n] = e.pContentBlind;
      rec.logitWithoutShortTerm[e.n] = e.logitWithoutShortTerm;
      rec.label[e.n] = e.clicked ? 1 : 0;
      rec.period[e.n] = PERIODS.indexOf(e.period);
      rec.item[e.n] = e.item;
      const eventId = `imp-${e.n + 1}`;
      events.write(eventJson('impression', eventId, e.ts, world, e));
      pTrueOut.write(
        JSON.stringify({
          event_id: eventId,
          request_id: requestId(e.request),
          item_id: world.items.ids[e.item],
          p_true: p,
          p_expected: expected,
          period: e.period,
        }),
      );
    },
    delayed(e: Delayed): void {
      if (e.kind === 'click') events.write(eventJson('click', `clk-${e.n + 1}`, e.ts, world, e));
      else events.write(eventJson('conversion', `cnv-${e.n + 1}`, e.ts, world, e, e.value));
    },
    async drain(): Promise<void> {
      await events.drain();
      await pTrueOut.drain();
    },
  };
}

/** items.jsonl (first-seen order, as a producer would publish it) and the two ground-truth files. */
async function writeCatalogueAndLatents({ cfg, items, users }: World, outDir: string): Promise<void> {
  const catalogue = [...items.catalogue].sort(
    (a, b) => a.ts_ms - b.ts_ms || a.item_id.localeCompare(b.item_id),
  );
  const itemsOut = new LineWriter(join(outDir, OUTPUT_FILES.items));
  for (const it of catalogue) itemsOut.write(JSON.stringify(it));
  const latentItems = new LineWriter(join(outDir, OUTPUT_FILES.latentItems));
  for (let i = 0; i < items.count; i++) latentItems.write(JSON.stringify(itemLatent(items, i)));
  const latentUsers = new LineWriter(join(outDir, OUTPUT_FILES.latentUsers));
  for (let u = 0; u < users.count; u++)
    latentUsers.write(JSON.stringify(userLatent(users, u, cfg.items.topics)));
  await Promise.all([itemsOut.close(), latentItems.close(), latentUsers.close()]);
}

function itemLatent(items: ItemTable, i: number): Record<string, unknown> {
  const topic = items.topic[i] as number;
  const vocab = topicVocabulary(topic);
  return {
    item_id: items.ids[i],
    topic,
    topic_name: vocab.topic.key,
    category: vocab.category.name,
    popularity_z: round(items.popularityZ[i] as number),
    first_seen_ms: items.firstSeenMs[i],
    cold_start: items.coldStart[i] === 1,
  };
}

function oracleReport(rec: RecordedImpressions, n: number, { cfg, items }: World): OracleReport {
  const p = rec.pTrue.subarray(0, n);
  const y = rec.label.subarray(0, n);
  const per = rec.period.subarray(0, n);
  const shownItem = rec.item;
  const inPeriod = (code: number) => (i: number) => per[i] === code;
  const all = (): boolean => true;
  const coldStartTest = (i: number): boolean => per[i] === 2 && items.coldStart[shownItem[i] as number] === 1;
  const byPeriod = (q: Float64Array): Record<Period | 'overall', Scores> => ({
    overall: scores(q, y, all),
    train: scores(q, y, inPeriod(0)),
    validation: scores(q, y, inPeriod(1)),
    test: scores(q, y, inPeriod(2)),
  });
  const expected = rec.pExpected.subarray(0, n);
  const withoutShortTerm = rec.logitWithoutShortTerm.subarray(0, n);
  return {
    p_true: byPeriod(p),
    p_true_cold_start_test: scores(p, y, coldStartTest),
    p_expected: byPeriod(expected),
    p_expected_cold_start_test: scores(expected, y, coldStartTest),
    content_blind_cold_start_test: scores(rec.pContentBlind.subarray(0, n), y, coldStartTest),
    without_short_term_auc: {
      test: round(auc(withoutShortTerm, y, inPeriod(2))),
      overall: round(auc(withoutShortTerm, y, all)),
    },
    topic_only_auc: { test: topicOnlyAuc(items, shownItem.subarray(0, n), y, per, cfg.items.topics) },
  };
}

function countColdStart(items: ItemTable): number {
  let coldStartItems = 0;
  for (let i = 0; i < items.count; i++) coldStartItems += items.coldStart[i] as number;
  return coldStartItems;
}

function metaJson(
  cfg: SynthConfig,
  periods: Periods,
  intercept: number,
  counts: SynthSummary['counts'],
  ctr: number,
): Record<string, unknown> {
  return {
    generator: 'mmctr synth',
    format_version: 1,
    seed: cfg.seed,
    config: cfg,
    // Half-open intervals [start_ms, end_ms); an impression belongs to the period of its ts_ms.
    periods: {
      train: { start_ms: periods.startMs, end_ms: periods.validationStartMs },
      validation: { start_ms: periods.validationStartMs, end_ms: periods.testStartMs },
      test: { start_ms: periods.testStartMs, end_ms: periods.endMs },
    },
    split: { validation_start_ms: periods.validationStartMs, test_start_ms: periods.testStartMs },
    calibrated_intercept: round(intercept),
    counts,
    ctr,
    cold_start: {
      items: counts.coldStartItems,
      share: round(counts.coldStartItems / counts.items),
      from_ms: periods.testStartMs,
    },
    topics: Array.from({ length: cfg.items.topics }, (_, t) => topicVocabulary(t).topic.key),
    files: OUTPUT_FILES,
  };
}
