// Every knob of the generator lives here, with its default; docs/synthetic-data.md explains each one.

export const DEVICES = ['mobile', 'desktop', 'tablet'] as const;
export const PLACEMENTS = ['feed', 'search', 'related'] as const;
export const COUNTRIES = ['US', 'GB', 'DE', 'FR', 'BR', 'IN', 'JP', 'ES'] as const;

export interface SynthConfig {
  seed: number;
  /** Fixed start of the simulated period (UTC ms): the output never depends on the clock. */
  baseEpochMs: number;
  days: number;
  /** The last `testDays` days are the test period, the `validationDays` before it validation. */
  testDays: number;
  validationDays: number;

  items: {
    count: number;
    /** Latent topics; the built-in vocabularies and visual styles cover up to 24 (4 per category). */
    topics: number;
    /** Log-normal sigma of topic sizes (0 = equal-sized topics). */
    topicSizeSigma: number;
    /** Log-normal sigma of item popularity: weight = exp(sigma * z), z ~ N(0, 1). */
    popularitySigma: number;
    /** Share of items first seen at the start of the test period (the cold-start items). */
    coldStartShare: number;
    /** Share of the other items first seen during train/validation rather than before the start. */
    lateArrivalShare: number;
    /** Items that exist before the start were first seen up to this many days before it. */
    preexistingDays: number;
    /** Cold-start items appear within this many hours after the test start. */
    coldStartSpreadHours: number;
    /** Chance that a topic-word slot of the text takes a word from a random topic instead. */
    offTopicWordRate: number;
    /** Share of items whose tags name their topic (its key and topic words); the others carry only
     * category and generic tags, as sparse merchant tagging does, so their topic shows only in
     * the title, description and image. */
    topicTagShare: number;
    imageSize: number;
    /** Renders queued at once: sharp runs them on the libuv pool, so keeping more queued than
     * threads keeps the pool busy while the main thread is simulating. */
    imageConcurrency: number;
    /** zlib level of the PNGs: fixed so that the bytes are stable. */
    pngCompressionLevel: number;
  };

  users: {
    count: number;
    /** Latent segments: each prefers one category when drawing its users' main topics. */
    segments: number;
    /** Probabilities of having 1, 2 or 3 main topics. */
    mainTopicCountWeights: [number, number, number];
    /** Chance that a main topic comes from the segment's favourite category. */
    segmentAffinity: number;
    /** Dirichlet concentration over the main topics. */
    mainTopicAlpha: number;
    /** Interest mass spread evenly over all topics (the rest goes to the main topics). */
    backgroundInterest: number;
    /** Log-normal sigma of the activity level (requests are drawn in proportion to it). */
    activitySigma: number;
    deviceWeights: [number, number, number];
    countryWeights: number[];
  };

  requests: {
    /** Total impressions; the last slate is cut so the count is exact. */
    impressions: number;
    slateMin: number;
    slateMax: number;
    /** Requests per session: 1 + geometric with this mean of extra requests. */
    extraRequestsPerSession: number;
    /** Seconds between two requests of one session. */
    sessionGapSeconds: [number, number];
    placementWeights: [number, number, number];
    /** Candidate sources per slot: [popularity, user's topics, uniform exploration]. */
    sourceWeights: [number, number, number];
    /** Amplitude (0..1) of the day/night cycle of request times (peak at 20:00 UTC). */
    diurnalAmplitude: number;
  };

  clickModel: {
    /** Wanted overall CTR; the intercept is calibrated to it on a pilot run. */
    targetCtr: number;
    /** Range the overall CTR must fall in (checked by the tests). */
    ctrRange: [number, number];
    /** Weight of long-term interest in the item's topic (interest is a share in [0, 1]). */
    longTerm: number;
    /** Weight of short-term interest (decayed count of recent clicks on the topic). */
    shortTerm: number;
    /** Decay per older click in the short-term vector, most recent click weight 1. */
    shortTermDecay: number;
    /** How many of the user's last clicks make up the short-term interest. */
    shortTermWindow: number;
    /** Each click's weight halves every this many hours. */
    shortTermHalfLifeHours: number;
    /** Weight of the item's standardised log-popularity. */
    popularity: number;
    /** Position bias: -positionBias * ln(1 + position). */
    positionBias: number;
    placementEffect: [number, number, number];
    deviceEffect: [number, number, number];
    /** Sigma of the random device x category interaction. */
    deviceCategorySigma: number;
    /** Sigma of the per-user click propensity. */
    userBiasSigma: number;
    /** Sigma of the per-segment click propensity. */
    segmentBiasSigma: number;
    /** Sigma of the per-impression logit noise. */
    noiseSigma: number;
    /** Share of users (every k-th) used for the intercept calibration, and bisection steps. */
    calibrationUserShare: number;
    calibrationSteps: number;
  };

  feedback: {
    /** Seconds from impression to click: uniform range. */
    clickDelaySeconds: [number, number];
    conversionRate: number;
    conversionDelaySeconds: [number, number];
    /** Conversion value: log-normal with this median and sigma, in currency units. */
    conversionValueMedian: number;
    conversionValueSigma: number;
  };
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends number[] ? T[K] : DeepPartial<T[K]> | T[K] };

export const DEFAULT_CONFIG: SynthConfig = {
  seed: 42,
  baseEpochMs: Date.UTC(2026, 0, 5),
  days: 14,
  testDays: 2,
  validationDays: 2,
  items: {
    count: 5000,
    topics: 24,
    topicSizeSigma: 0.3,
    popularitySigma: 1.0,
    coldStartShare: 0.1,
    lateArrivalShare: 0.25,
    preexistingDays: 30,
    coldStartSpreadHours: 12,
    offTopicWordRate: 0.1,
    topicTagShare: 0.25,
    imageSize: 96,
    imageConcurrency: 16,
    pngCompressionLevel: 6,
  },
  users: {
    count: 20000,
    segments: 6,
    mainTopicCountWeights: [0.35, 0.45, 0.2],
    segmentAffinity: 0.6,
    mainTopicAlpha: 1.0,
    backgroundInterest: 0.1,
    activitySigma: 1.0,
    deviceWeights: [0.6, 0.3, 0.1],
    countryWeights: [0.3, 0.12, 0.12, 0.1, 0.1, 0.12, 0.08, 0.06],
  },
  requests: {
    impressions: 1_000_000,
    slateMin: 8,
    slateMax: 12,
    extraRequestsPerSession: 2,
    sessionGapSeconds: [30, 240],
    placementWeights: [0.6, 0.25, 0.15],
    sourceWeights: [0.45, 0.35, 0.2],
    diurnalAmplitude: 0.5,
  },
  clickModel: {
    targetCtr: 0.05,
    ctrRange: [0.03, 0.08],
    longTerm: 2.0,
    shortTerm: 1.6,
    shortTermDecay: 0.6,
    shortTermWindow: 5,
    shortTermHalfLifeHours: 24,
    popularity: 0.3,
    positionBias: 0.5,
    placementEffect: [0, 0.5, 0.2],
    deviceEffect: [0.1, -0.1, 0],
    deviceCategorySigma: 0.3,
    userBiasSigma: 0.4,
    segmentBiasSigma: 0.3,
    noiseSigma: 0.3,
    calibrationUserShare: 0.1,
    calibrationSteps: 14,
  },
  feedback: {
    clickDelaySeconds: [2, 20],
    conversionRate: 0.05,
    conversionDelaySeconds: [60, 1800],
    conversionValueMedian: 40,
    conversionValueSigma: 0.8,
  },
};

/** The `--small` preset: a few seconds to generate, used by the tests. */
export const SMALL_PRESET: DeepPartial<SynthConfig> = {
  items: { count: 300 },
  users: { count: 500 },
  requests: { impressions: 20_000 },
  // Few users: calibrate on all of them so the CTR lands on target.
  clickModel: { calibrationUserShare: 1 },
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge<T>(base: T, over: unknown): T {
  if (!isPlainObject(over) || !isPlainObject(base)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = merge((base as Record<string, unknown>)[k], v);
  }
  return out as T;
}

/** Defaults, then each override in order (later wins); throws on values the generator cannot honour. */
export function resolveConfig(...overrides: Array<DeepPartial<SynthConfig> | undefined>): SynthConfig {
  const cfg = overrides.reduce<SynthConfig>((acc, o) => merge(acc, o), DEFAULT_CONFIG);
  const fail = (msg: string): never => {
    throw new Error(`synth config: ${msg}`);
  };
  if (!Number.isInteger(cfg.seed) || cfg.seed < 0) fail('seed must be a non-negative integer');
  if (!(cfg.days > cfg.testDays + cfg.validationDays)) fail('days must exceed testDays + validationDays');
  if (!(cfg.items.topics >= 2 && cfg.items.topics <= 24)) fail('items.topics must be in 2..24');
  if (!(cfg.items.count >= cfg.items.topics)) fail('need at least one item per topic');
  if (!(cfg.users.count >= 1)) fail('users.count must be >= 1');
  if (!(cfg.requests.impressions >= 1)) fail('requests.impressions must be >= 1');
  if (!(cfg.items.coldStartShare >= 0 && cfg.items.coldStartShare < 1))
    fail('coldStartShare must be in [0, 1)');
  if (!(cfg.requests.slateMin >= 1 && cfg.requests.slateMax >= cfg.requests.slateMin))
    fail('slateMin <= slateMax, both >= 1');
  const [lo, hi] = cfg.clickModel.ctrRange;
  if (!(lo < cfg.clickModel.targetCtr && cfg.clickModel.targetCtr < hi))
    fail('targetCtr must lie inside ctrRange');
  return cfg;
}

export const DAY_MS = 86_400_000;

export interface Periods {
  startMs: number;
  validationStartMs: number;
  testStartMs: number;
  endMs: number;
}

export function periodsOf(cfg: SynthConfig): Periods {
  const startMs = cfg.baseEpochMs;
  const endMs = startMs + cfg.days * DAY_MS;
  const testStartMs = endMs - cfg.testDays * DAY_MS;
  return { startMs, validationStartMs: testStartMs - cfg.validationDays * DAY_MS, testStartMs, endMs };
}

export type Period = 'train' | 'validation' | 'test';

export function periodOf(p: Periods, ts: number): Period {
  return ts >= p.testStartMs ? 'test' : ts >= p.validationStartMs ? 'validation' : 'train';
}
