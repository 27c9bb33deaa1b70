// The true click probability of an impression:
//   logit = intercept + userBias + a*longTerm[topic] + b*shortTerm[topic] + c*popularityZ
//           - g*ln(1 + position) + placement + device + deviceXcategory + noise
//   p_true = sigmoid(logit)
import { DEVICES, type SynthConfig } from './config';
import type { Rng } from './prng';
import { TOPICS_PER_CATEGORY } from './vocabulary';

export const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
export const logit = (p: number): number => Math.log(p / (1 - p));

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
