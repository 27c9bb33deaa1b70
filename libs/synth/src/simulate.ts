// The request loop: walks the schedule in time order, fills each slate, draws clicks from p_true
// and releases delayed clicks and conversions in time order. A click changes the user's short-term
// interest only once its event time has passed, so p_true never depends on anything a model could
// not see in the event history before the request.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import {
  type CandidateCursor,
  type CandidateIndex,
  SOURCE_EXPLORE,
  SOURCE_POPULARITY,
  SOURCE_USER_TOPIC,
} from './candidates';
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
  return new Simulation(world, intercept, rng, opts).run();
}

/** What a slate's request shares with each of its impressions. */
interface RequestContext {
  request: number;
  ts: number;
  user: number;
  placement: number;
  device: number;
  period: Period;
}

/** The click probabilities of one impression, before the click is drawn. */
interface ImpressionOdds {
  pTrue: number;
  pExpected: number;
  pContentBlind: number;
  logitWithoutShortTerm: number;
}

/** Catalogue share of each topic: the prior of an oracle that knows only an item's category. */
function topicPriorOf(items: ItemTable, topics: number): Float64Array {
  const prior = new Float64Array(topics);
  for (let i = 0; i < items.count; i++) {
    const t = items.topic[i] as number;
    prior[t] = (prior[t] as number) + 1;
  }
  return prior;
}

// One run over the schedule. The random draws happen in a fixed order (slate, then per position:
// noise, click, click delay, conversion), which is what makes the output reproducible.
class Simulation {
  private readonly k: number;
  private readonly memory: ShortTermMemory;
  private readonly cursor: CandidateCursor;
  private readonly pending = new MinHeap<Delayed>();
  private readonly shortTerm: Float64Array;
  private readonly slate: number[] = [];
  private readonly topicPrior: Float64Array;
  private readonly stats = { impressions: 0, clicks: 0, conversions: 0, sumP: 0 };
  private seq = 0;

  constructor(
    private readonly world: World,
    private readonly intercept: number,
    private readonly rng: Rng,
    private readonly opts: SimulationOptions,
  ) {
    const { cfg, users, items, index } = world;
    const cm = cfg.clickModel;
    this.k = cfg.items.topics;
    this.memory = new ShortTermMemory(
      users.count,
      cm.shortTermWindow,
      cm.shortTermDecay,
      cm.shortTermHalfLifeHours * 3_600_000,
    );
    this.cursor = index.cursor();
    this.shortTerm = new Float64Array(this.k);
    this.topicPrior = topicPriorOf(items, this.k);
  }

  async run(): Promise<SimulationStats> {
    const { schedule } = this.world;
    for (let r = 0; r < schedule.count; r++) {
      if (r % YIELD_EVERY_REQUESTS === 0 && r > 0) await this.yieldAndReport();
      this.serveRequest(r);
    }
    this.release(Number.POSITIVE_INFINITY);
    this.opts.onProgress?.(this.stats.impressions);
    const { sumP, ...counts } = this.stats;
    return { ...counts, meanPTrue: this.stats.impressions > 0 ? sumP / this.stats.impressions : 0 };
  }

  /** Keeps the event loop (image renders, progress bar) moving and honours back-pressure. */
  private async yieldAndReport(): Promise<void> {
    if (this.opts.sink) await this.opts.sink.drain();
    else await yieldToLoop();
    this.opts.onProgress?.(this.stats.impressions);
  }

  /** Emits the delayed clicks and conversions due by `until`; a click feeds short-term interest. */
  private release(until: number): void {
    const { pending } = this;
    for (let next = pending.peek(); next && next.ts <= until; next = pending.peek()) {
      pending.pop();
      if (next.kind === 'click')
        this.memory.push(next.user, this.world.items.topic[next.item] as number, next.ts);
      this.opts.sink?.delayed(next);
    }
  }

  private serveRequest(r: number): void {
    const { schedule, users, periods } = this.world;
    const user = schedule.user[r] as number;
    if (this.opts.includeUser && !this.opts.includeUser(user)) return;
    const ts = schedule.tsMs[r] as number;
    this.release(ts);
    const available = this.cursor.advance(ts);
    if (available === 0) return;
    this.fillSlate(schedule.slateSize[r] as number, user, available);
    this.memory.vector(user, ts, this.shortTerm);
    const req: RequestContext = {
      request: r,
      ts,
      user,
      placement: schedule.placement[r] as number,
      device: users.device[user] as number,
      period: periodOf(periods, ts),
    };
    for (let position = 0; position < this.slate.length; position++)
      this.showImpression(req, position, this.slate[position] as number);
  }

  /** Fills the slate with distinct items, each slot from a source drawn by the source weights. */
  private fillSlate(slateSize: number, user: number, available: number): void {
    const { cfg, users } = this.world;
    const { slate, rng } = this;
    const [wPop, wTopic] = cfg.requests.sourceWeights;
    const sourceTotal = cfg.requests.sourceWeights.reduce((a, b) => a + b, 0);
    const size = Math.min(slateSize, available);
    slate.length = 0;
    for (let guard = 0; slate.length < size && guard < size * 20; guard++) {
      const u = rng.next() * sourceTotal;
      const source = u < wPop ? SOURCE_POPULARITY : u < wPop + wTopic ? SOURCE_USER_TOPIC : SOURCE_EXPLORE;
      const item = this.cursor.draw(source, users, user, rng);
      if (!slate.includes(item)) slate.push(item);
    }
  }

  private showImpression(req: RequestContext, position: number, item: number): void {
    const odds = this.impressionOdds(req, position, item);
    const clicked = this.rng.next() < odds.pTrue;
    const n = this.stats.impressions++;
    this.stats.sumP += odds.pTrue;
    this.opts.sink?.impression({
      n,
      request: req.request,
      ts: req.ts,
      user: req.user,
      item,
      position,
      placement: req.placement,
      pTrue: odds.pTrue,
      pExpected: odds.pExpected,
      pContentBlind: odds.pContentBlind,
      logitWithoutShortTerm: odds.logitWithoutShortTerm,
      clicked,
      period: req.period,
    });
    if (clicked) this.scheduleFeedback(req, position, item);
  }

  /** Draws the impression's noise and computes p_true (plus the oracle figures when there is a sink). */
  private impressionOdds(req: RequestContext, position: number, item: number): ImpressionOdds {
    const { items, users, model, cfg } = this.world;
    const { intercept, k, shortTerm } = this;
    const { user } = req;
    const topic = items.topic[item] as number;
    const category = items.category[item] as number;
    const staticLogit = (longTerm: number): number =>
      model.staticLogit(
        users.bias[user] as number,
        longTerm,
        items.popularityZ[item] as number,
        position,
        req.placement,
        req.device,
        category,
      );
    const topicLogit = (t: number): number =>
      intercept +
      staticLogit(users.longTerm[user * k + t] as number) +
      model.shortTermLogit(shortTerm[t] as number);
    const noise = model.noise(this.rng);
    const base = intercept + staticLogit(users.longTerm[user * k + topic] as number) + noise;
    const z = base + model.shortTermLogit(shortTerm[topic] as number);
    const pTrue = sigmoid(z);
    // The oracle figures only (the calibration pilot has no sink and skips them).
    let pExpected = Number.NaN;
    let pContentBlind = Number.NaN;
    if (this.opts.sink) {
      pExpected = model.expectedClick(topicLogit(topic));
      if (items.coldStart[item] === 1)
        pContentBlind =
          items.topicTagged[item] === 1
            ? pExpected
            : expectedOverTopics(
                model.topicsOf(category),
                this.topicPrior,
                topicLogit,
                cfg.clickModel.noiseSigma,
              );
    }
    return { pTrue, pExpected, pContentBlind, logitWithoutShortTerm: base };
  }

  /** Queues the click after its delay and, for a share of clicks, a conversion after that. */
  private scheduleFeedback(req: RequestContext, position: number, item: number): void {
    const fb = this.world.cfg.feedback;
    const { rng, pending, stats } = this;
    const common = { request: req.request, user: req.user, item, position, placement: req.placement };
    const clickTs = req.ts + Math.floor(1000 * rng.uniform(fb.clickDelaySeconds[0], fb.clickDelaySeconds[1]));
    pending.push({ ts: clickTs, seq: this.seq++, kind: 'click', n: stats.clicks++, value: 0, ...common });
    if (rng.next() < fb.conversionRate) {
      const convTs =
        clickTs + Math.floor(1000 * rng.uniform(fb.conversionDelaySeconds[0], fb.conversionDelaySeconds[1]));
      const value =
        Math.round(100 * fb.conversionValueMedian * Math.exp(fb.conversionValueSigma * rng.normal())) / 100;
      pending.push({
        ts: convTs,
        seq: this.seq++,
        kind: 'conversion',
        n: stats.conversions++,
        value,
        ...common,
      });
    }
  }
}
