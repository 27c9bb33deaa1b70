// Users: a sparse long-term interest mixture over topics, an activity level, a device, a country,
// a latent segment and a personal click propensity.
import { COUNTRIES, DEVICES, type SynthConfig } from './config';
import { entityTable, type EntityTable } from './entity-table';
import type { Rng } from './prng';
import { TOPICS_PER_CATEGORY } from './vocabulary';

export const MAX_MAIN_TOPICS = 3;

export interface UserTable extends EntityTable {
  device: Uint8Array;
  country: Uint8Array;
  segment: Uint8Array;
  activity: Float64Array;
  /** Row-major count x topics; each row sums to 1. */
  longTerm: Float64Array;
  /** Main topics (up to 3, -1 = unused) with their mixture weights, for candidate retrieval. */
  mainTopics: Int32Array;
  mainWeights: Float64Array;
  /** Personal plus segment click propensity (a logit offset). */
  bias: Float64Array;
}

export const userId = (i: number): string => `user-${String(i + 1).padStart(6, '0')}`;

export function generateUsers(cfg: SynthConfig, rng: Rng): UserTable {
  const n = cfg.users.count;
  const k = cfg.items.topics;
  const uc = cfg.users;
  const categories = Math.ceil(k / TOPICS_PER_CATEGORY);
  const segmentBias = Array.from(
    { length: uc.segments },
    () => cfg.clickModel.segmentBiasSigma * rng.normal(),
  );
  const t: UserTable = entityTable(n, userId, {
    device: new Uint8Array(n),
    country: new Uint8Array(n),
    segment: new Uint8Array(n),
    activity: new Float64Array(n),
    longTerm: new Float64Array(n * k),
    mainTopics: new Int32Array(n * MAX_MAIN_TOPICS).fill(-1),
    mainWeights: new Float64Array(n * MAX_MAIN_TOPICS),
    bias: new Float64Array(n),
  });
  for (let u = 0; u < n; u++) {
    const segment = rng.int(0, uc.segments - 1);
    t.segment[u] = segment;
    t.device[u] = rng.weighted(uc.deviceWeights);
    t.country[u] = Math.min(COUNTRIES.length - 1, rng.weighted(uc.countryWeights));
    t.activity[u] = Math.exp(uc.activitySigma * rng.normal());
    t.bias[u] = (segmentBias[segment] ?? 0) + cfg.clickModel.userBiasSigma * rng.normal();

    // Main topics: mostly from the segment's favourite category, otherwise anywhere.
    const favourite = segment % categories;
    const howMany = 1 + rng.weighted(uc.mainTopicCountWeights);
    const topics: number[] = [];
    for (let guard = 0; topics.length < howMany && guard < 50; guard++) {
      const topic = rng.bernoulli(uc.segmentAffinity)
        ? Math.min(k - 1, favourite * TOPICS_PER_CATEGORY + rng.int(0, TOPICS_PER_CATEGORY - 1))
        : rng.int(0, k - 1);
      if (!topics.includes(topic)) topics.push(topic);
    }
    const weights = rng.dirichlet(topics.length, uc.mainTopicAlpha);
    const row = u * k;
    for (let j = 0; j < k; j++) t.longTerm[row + j] = uc.backgroundInterest / k;
    topics.forEach((topic, j) => {
      const w = (1 - uc.backgroundInterest) * (weights[j] ?? 0);
      t.longTerm[row + topic] = (t.longTerm[row + topic] as number) + w;
      t.mainTopics[u * MAX_MAIN_TOPICS + j] = topic;
      t.mainWeights[u * MAX_MAIN_TOPICS + j] = weights[j] ?? 0;
    });
  }
  return t;
}

export function userLatent(t: UserTable, u: number, k: number): Record<string, unknown> {
  const main: Array<{ topic: number; weight: number }> = [];
  for (let j = 0; j < MAX_MAIN_TOPICS; j++) {
    const topic = t.mainTopics[u * MAX_MAIN_TOPICS + j] as number;
    if (topic >= 0) main.push({ topic, weight: round(t.mainWeights[u * MAX_MAIN_TOPICS + j] as number) });
  }
  return {
    user_id: t.ids[u],
    segment: t.segment[u],
    device: DEVICES[t.device[u] as number],
    country: COUNTRIES[t.country[u] as number],
    activity: round(t.activity[u] as number),
    bias: round(t.bias[u] as number),
    main_topics: main,
    long_term: Array.from(t.longTerm.subarray(u * k, (u + 1) * k), round),
  };
}

export function round(x: number): number {
  return Number(x.toPrecision(6));
}
