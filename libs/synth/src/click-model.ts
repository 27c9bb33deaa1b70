// The true click probability of an impression:
//   logit = intercept + userBias + a*longTerm[topic] + b*shortTerm[topic] + c*popularityZ
//           - g*ln(1 + position) + placement + device + deviceXcategory + noise
//   p_true = sigmoid(logit)
// The noise is drawn per impression, independent of everything else, so the best prediction anyone
// could make is p_expected = E_noise[p_true]: the oracle without the coin's extra randomness.
import { DEVICES, type SynthConfig } from './config';
import type { Rng } from './prng';
import { TOPICS_PER_CATEGORY } from './vocabulary';

export const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
export const logit = (p: number): number => Math.log(p / (1 - p));

// Trapezoid nodes over a standard normal, +-8 sigma in steps of 1/4: for a smooth integrand like the
// sigmoid the trapezoid rule on a Gaussian converges geometrically (error far below 1e-9 here).
const NORMAL_NODES: ReadonlyArray<{ x: number; w: number }> = (() => {
  const nodes = Array.from({ length: 65 }, (_, i) => {
    const x = -8 + i / 4;
    return { x, w: Math.exp(-0.5 * x * x) };
  });
  const total = nodes.reduce((a, n) => a + n.w, 0);
  return nodes.map((n) => ({ x: n.x, w: n.w / total }));
})();

/** E[sigmoid(z + sigma * e)] for e ~ N(0, 1). */
export function expectedSigmoid(z: number, sigma: number): number {
  if (sigma === 0) return sigmoid(z);
  let sum = 0;
  for (const n of NORMAL_NODES) sum += n.w * sigmoid(z + sigma * n.x);
  return sum;
}

/**
 * The expected click probability when the item's topic is unknown: the average over `topics` of
 * expectedSigmoid(topicLogit(t)), weighted by `prior` (which need not be normalised over them).
 */
export function expectedOverTopics(
  topics: readonly number[],
  prior: ArrayLike<number>,
  topicLogit: (topic: number) => number,
  sigma: number,
): number {
  let sum = 0;
  let mass = 0;
  for (const t of topics) {
    const w = prior[t] as number;
    if (w <= 0) continue;
    sum += w * expectedSigmoid(topicLogit(t), sigma);
    mass += w;
  }
  return sum / mass;
}

export class ClickModel {
  /** Row-major devices x categories. */
  readonly deviceCategory: Float64Array;
  readonly categories: number;

  constructor(
    private readonly cfg: SynthConfig,
    rng: Rng,
  ) {
    this.categories = Math.ceil(cfg.items.topics / TOPICS_PER_CATEGORY);
    this.deviceCategory = Float64Array.from(
      { length: DEVICES.length * this.categories },
      () => cfg.clickModel.deviceCategorySigma * rng.normal(),
    );
  }

  /** Everything in the logit except the intercept, the short-term term and the noise. */
  staticLogit(
    userBias: number,
    longTerm: number,
    popularityZ: number,
    position: number,
    placement: number,
    device: number,
    category: number,
  ): number {
    const m = this.cfg.clickModel;
    return (
      userBias +
      m.longTerm * longTerm +
      m.popularity * popularityZ -
      m.positionBias * Math.log1p(position) +
      (m.placementEffect[placement] ?? 0) +
      (m.deviceEffect[device] ?? 0) +
      (this.deviceCategory[device * this.categories + category] as number)
    );
  }

  shortTermLogit(shortTerm: number): number {
    return this.cfg.clickModel.shortTerm * shortTerm;
  }

  /** p_expected of a logit without its noise term. */
  expectedClick(logitWithoutNoise: number): number {
    return expectedSigmoid(logitWithoutNoise, this.cfg.clickModel.noiseSigma);
  }

  /** The topics of a category, in order. */
  topicsOf(category: number): number[] {
    const first = category * TOPICS_PER_CATEGORY;
    const last = Math.min(this.cfg.items.topics, first + TOPICS_PER_CATEGORY);
    return Array.from({ length: last - first }, (_, i) => first + i);
  }

  noise(rng: Rng): number {
    return this.cfg.clickModel.noiseSigma * rng.normal();
  }
}

/**
 * The user's short-term interest: the last `window` clicked topics, most recent first, the j-th
 * weighted decay^j * 2^(-hours since the click / half-life). The time decay lets interest fade
 * between visits, so the click rate does not keep climbing as histories fill up. Kept as a ring
 * buffer per user.
 */
export class ShortTermMemory {
  private readonly topics: Int32Array;
  private readonly times: Float64Array;
  private readonly length: Uint8Array;
  private readonly head: Uint8Array;

  constructor(
    users: number,
    private readonly window: number,
    private readonly decay: number,
    private readonly halfLifeMs: number,
  ) {
    this.topics = new Int32Array(users * window);
    this.times = new Float64Array(users * window);
    this.length = new Uint8Array(users);
    this.head = new Uint8Array(users);
  }

  /** Records a click on `topic`, visible from the click's own time on. */
  push(user: number, topic: number, ts: number): void {
    const h = this.head[user] as number;
    this.topics[user * this.window + h] = topic;
    this.times[user * this.window + h] = ts;
    this.head[user] = (h + 1) % this.window;
    this.length[user] = Math.min(this.window, (this.length[user] as number) + 1);
  }

  /** Fills `out` (one slot per topic) with the user's decayed click counts at time `now`. */
  vector(user: number, now: number, out: Float64Array): void {
    out.fill(0);
    const n = this.length[user] as number;
    let slot = this.head[user] as number;
    let w = 1;
    for (let j = 0; j < n; j++) {
      slot = (slot - 1 + this.window) % this.window;
      const topic = this.topics[user * this.window + slot] as number;
      const age = now - (this.times[user * this.window + slot] as number);
      out[topic] = (out[topic] as number) + w * Math.pow(2, -age / this.halfLifeMs);
      w *= this.decay;
    }
  }
}
