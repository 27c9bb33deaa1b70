// The request loop: walks the schedule in time order, fills each slate, draws clicks from p_true
// and releases delayed clicks and conversions in time order. A click changes the user's short-term
// interest only once its event time has passed, so p_true never depends on anything a model could
// not see in the event history before the request.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { SOURCE_EXPLORE, SOURCE_POPULARITY, SOURCE_USER_TOPIC, type CandidateIndex } from './candidates';
import { type ClickModel, expectedOverTopics, ShortTermMemory, sigmoid } from './click-model';
import { type Period, type Periods, type SynthConfig, periodOf } from './config';
import type { ItemTable } from './items';
import { MinHeap } from './min-heap';
import type { Rng } from './prng';
import type { Schedule } from './schedule';
import type { UserTable } from './users';

export interface World {
  cfg: SynthConfig;
  periods: Periods;
  items: ItemTable;
  users: UserTable;
  schedule: Schedule;
  index: CandidateIndex;
  model: ClickModel;
}

export interface Impression {
  /** 0-based impression counter (event id imp-<n+1>). */
  n: number;
  request: number;
  ts: number;
  user: number;
  item: number;
  position: number;
  placement: number;
  pTrue: number;
  /** E over the per-impression noise of p_true: the best prediction possible. */
  pExpected: number;
  /**
   * For cold-start items whose tags do not name the topic: p_expected averaged over the topics of
   * the item's category (catalogue shares), i.e. an oracle that sees neither text nor image.
   * Equal to pExpected for tagged cold-start items; NaN for all other items.
   */
  pContentBlind: number;
  /** The same logit without the short-term term (for the ablation figures). */
  logitWithoutShortTerm: number;
  clicked: boolean;
  period: Period;
}

export interface Delayed {
  ts: number;
  seq: number;
  kind: 'click' | 'conversion';
  /** 0-based counter per kind (event ids clk-<n+1>, cnv-<n+1>). */
  n: number;
  request: number;
  user: number;
  item: number;
  position: number;
  placement: number;
  value: number;
}

export interface Sink {
  impression(e: Impression): void;
  delayed(e: Delayed): void;
  /** Called every few requests: lets writers apply back-pressure. */
  drain(): Promise<void>;
}

export interface SimulationStats {
  impressions: number;
  clicks: number;
  conversions: number;
  meanPTrue: number;
}

export interface SimulationOptions {
  sink?: Sink;
  /** Only simulate these users' requests (the calibration pilot). */
  includeUser?: (user: number) => boolean;
  onProgress?: (impressions: number) => void;
}

// Often enough that image renders get re-queued while the main thread simulates.
const YIELD_EVERY_REQUESTS = 256;

export async function simulate(
  world: World,
  intercept: number,
  rng: Rng,
  opts: SimulationOptions = {},
): Promise<SimulationStats> {
  const { cfg, periods, items, users, schedule, index, model } = world;
  const k = cfg.items.topics;
  const cm = cfg.clickModel;
  const fb = cfg.feedback;
  const memory = new ShortTermMemory(
    users.count,
    cm.shortTermWindow,
    cm.shortTermDecay,
    cm.shortTermHalfLifeHours * 3_600_000,
  );
  const cursor = index.cursor();
  const pending = new MinHeap<Delayed>();
  const shortTerm = new Float64Array(k);
  const slate: number[] = [];
  const [wPop, wTopic] = cfg.requests.sourceWeights;
  const sourceTotal = cfg.requests.sourceWeights.reduce((a, b) => a + b, 0);
  const stats = { impressions: 0, clicks: 0, conversions: 0, sumP: 0 };
  // Catalogue share of each topic: the prior of an oracle that knows only an item's category.
  const topicPrior = new Float64Array(k);
  for (let i = 0; i < items.count; i++) {
    const t = items.topic[i] as number;
    topicPrior[t] = (topicPrior[t] as number) + 1;
  }
  let seq = 0;

  const release = (until: number): void => {
    for (let next = pending.peek(); next && next.ts <= until; next = pending.peek()) {
      pending.pop();
      if (next.kind === 'click') memory.push(next.user, items.topic[next.item] as number, next.ts);
      opts.sink?.delayed(next);
    }
  };

  for (let r = 0; r < schedule.count; r++) {
    if (r % YIELD_EVERY_REQUESTS === 0 && r > 0) {
      // Keeps the event loop (image renders, progress bar) moving and honours back-pressure.
      if (opts.sink) await opts.sink.drain();
      else await yieldToLoop();
      opts.onProgress?.(stats.impressions);
    }
    const user = schedule.user[r] as number;
    if (opts.includeUser && !opts.includeUser(user)) continue;
    const ts = schedule.tsMs[r] as number;
    release(ts);
    const available = cursor.advance(ts);
    if (available === 0) continue;

    // Fill the slate with distinct items.
    const size = Math.min(schedule.slateSize[r] as number, available);
    slate.length = 0;
    for (let guard = 0; slate.length < size && guard < size * 20; guard++) {
      const u = rng.next() * sourceTotal;
      const source = u < wPop ? SOURCE_POPULARITY : u < wPop + wTopic ? SOURCE_USER_TOPIC : SOURCE_EXPLORE;
      const item = cursor.draw(source, users, user, rng);
      if (!slate.includes(item)) slate.push(item);
    }

    memory.vector(user, ts, shortTerm);
    const placement = schedule.placement[r] as number;
    const device = users.device[user] as number;
    const period = periodOf(periods, ts);
    for (let position = 0; position < slate.length; position++) {
      const item = slate[position] as number;
      const topic = items.topic[item] as number;
      const category = items.category[item] as number;
      const staticLogit = (longTerm: number): number =>
        model.staticLogit(
          users.bias[user] as number,
          longTerm,
          items.popularityZ[item] as number,
          position,
          placement,
          device,
          category,
        );
      const topicLogit = (t: number): number =>
        intercept +
        staticLogit(users.longTerm[user * k + t] as number) +
        model.shortTermLogit(shortTerm[t] as number);
      const noise = model.noise(rng);
      const base = intercept + staticLogit(users.longTerm[user * k + topic] as number) + noise;
      const z = base + model.shortTermLogit(shortTerm[topic] as number);
      const pTrue = sigmoid(z);
      // The oracle figures only (the calibration pilot has no sink and skips them).
      let pExpected = Number.NaN;
      let pContentBlind = Number.NaN;
      if (opts.sink) {
        pExpected = model.expectedClick(topicLogit(topic));
        if (items.coldStart[item] === 1)
          pContentBlind =
            items.topicTagged[item] === 1
              ? pExpected
              : expectedOverTopics(model.topicsOf(category), topicPrior, topicLogit, cm.noiseSigma);
      }
      const clicked = rng.next() < pTrue;
      const n = stats.impressions++;
      stats.sumP += pTrue;
      opts.sink?.impression({
        n,
        request: r,
        ts,
        user,
        item,
        position,
        placement,
        pTrue,
        pExpected,
        pContentBlind,
        logitWithoutShortTerm: base,
        clicked,
        period,
      });
      if (!clicked) continue;
      const common = { request: r, user, item, position, placement };
      const clickTs = ts + Math.floor(1000 * rng.uniform(fb.clickDelaySeconds[0], fb.clickDelaySeconds[1]));
      pending.push({ ts: clickTs, seq: seq++, kind: 'click', n: stats.clicks++, value: 0, ...common });
      if (rng.next() < fb.conversionRate) {
        const convTs =
          clickTs +
          Math.floor(1000 * rng.uniform(fb.conversionDelaySeconds[0], fb.conversionDelaySeconds[1]));
        const value =
          Math.round(100 * fb.conversionValueMedian * Math.exp(fb.conversionValueSigma * rng.normal())) / 100;
        pending.push({
          ts: convTs,
          seq: seq++,
          kind: 'conversion',
          n: stats.conversions++,
          value,
          ...common,
        });
      }
    }
  }
  release(Number.POSITIVE_INFINITY);
  opts.onProgress?.(stats.impressions);
  const { sumP, ...counts } = stats;
  return { ...counts, meanPTrue: stats.impressions > 0 ? sumP / stats.impressions : 0 };
}
