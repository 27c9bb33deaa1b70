// A small, deterministic ad platform for the ad-platform repository's end-to-end test: users with
// profiles (some updated later), advertisers (some re-rated later), campaigns, ads, and six days of
// impressions whose clicks follow a learnable signal (a user interested in the ad's industry, the top
// slots and wifi click more), then installs and purchases after some clicks. Every entity version
// precedes the validation period, so a test-period request reads the same entities online (the latest
// version) as the parity check reads offline (the version as of the request).
import { rng } from '../ingest/events';

const MINUTE = 60_000;
const DAY = 86_400_000;
/** Monday 2026-03-02 00:00 UTC. */
export const AD_T0 = Date.UTC(2026, 2, 2);

export type AdEventType = 'ad_impression' | 'ad_click' | 'install' | 'purchase';
export type EntityTable = 'user_profiles' | 'advertisers' | 'campaigns' | 'ads';
export const ENTITY_TABLES: readonly EntityTable[] = ['user_profiles', 'advertisers', 'campaigns', 'ads'];

/** A behaviour event as producers send it (attributes at the top level). */
export interface AdEvent {
  schema_version: 1;
  event_id: string;
  type: AdEventType;
  ts_ms: number;
  user_id: string;
  ad_id: string;
  auction_id: string;
  slot?: number;
  app_bundle?: string;
  os_version?: string;
  network?: string;
  floor_price?: number;
  revenue?: number;
}

/** A snapshot version of an entity: its key, ts_ms and the attributes it sets. */
export type Snapshot = Record<string, unknown> & { ts_ms: number };

/** A message ingest must dead-letter: where it goes, its bytes, and the reason ingest must give. */
export interface Malformed {
  /** 'events', or the entity table whose snapshot topic it is sent to. */
  topic: 'events' | EntityTable;
  key: string;
  value: string;
  reason: RegExp;
}

export interface AdPlatformData {
  /** Valid behaviour events in time order, each once. */
  events: AdEvent[];
  snapshots: Record<EntityTable, Snapshot[]>;
  malformed: Malformed[];
  trainEndMs: number;
  valEndMs: number;
}

export interface AdPlatformSize {
  users: number;
  ads: number;
  impressions: number;
}

const INDUSTRIES = ['games', 'retail', 'finance', 'travel', 'food', 'auto'];
const INTERESTS = [...INDUSTRIES, 'sports', 'music'];
const AGE_BANDS = ['13-17', '18-24', '25-34', '35-44', '45-54', '55+'];
const FORMATS = ['banner', 'video', 'native', 'interstitial'];
const NETWORKS = ['wifi', '4g', '5g', 'unknown'];
const ADVERTISERS = 12;
const CAMPAIGNS = 30;
const SPAN = 6 * DAY;
/** Every entity update happens before this (inside the training period). */
const UPDATES_END = 4 * DAY;

type Rand = () => number;
const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const round2 = (x: number) => Math.round(x * 100) / 100;
const someOf = (rand: Rand, xs: readonly string[], max: number): string[] => [
  ...new Set(Array.from({ length: 1 + Math.floor(rand() * max) }, () => pick(rand, xs))),
];

/** The newest version of `key` in `versions` at `ts` (undefined before the first). */
function asOf(versions: Snapshot[], keyName: string, key: string, ts: number): Snapshot | undefined {
  let found: Snapshot | undefined;
  for (const v of versions) if (v[keyName] === key && v.ts_ms <= ts) found = v;
  return found;
}

function entities(rand: Rand, size: AdPlatformSize): Record<EntityTable, Snapshot[]> {
  const before = AD_T0 - DAY;
  const advertisers: Snapshot[] = Array.from({ length: ADVERTISERS }, (_, k) => ({
    advertiser_id: `adv${k}`,
    ts_ms: before,
    industry: INDUSTRIES[k % INDUSTRIES.length],
    // adv0 leaves quality_score out: it reads the declared default
    ...(k === 0 ? {} : { quality_score: round2(0.2 + 0.7 * rand()) }),
  }));
  for (const k of [2, 5, 9]) {
    advertisers.push({
      advertiser_id: `adv${k}`,
      ts_ms: AD_T0 + k * 9 * 3_600_000,
      industry: INDUSTRIES[k % 6],
      quality_score: 0.95,
    });
  }
  const campaigns: Snapshot[] = Array.from({ length: CAMPAIGNS }, (_, k) => ({
    campaign_id: `cmp${k}`,
    ts_ms: before,
    objective: ['installs', 'clicks', 'purchases'][k % 3],
    daily_budget: 100 + 50 * (k % 7),
    bid_cpm: round2(0.5 + 8 * rand()),
  }));
  const ads: Snapshot[] = Array.from({ length: size.ads }, (_, k) => ({
    ad_id: `ad${k}`,
    ts_ms: before,
    advertiser_id: `adv${k % ADVERTISERS}`,
    campaign_id: `cmp${k % CAMPAIGNS}`,
    format: FORMATS[k % FORMATS.length],
    keywords: k % 5 === 0 ? [] : someOf(rand, ['shoes', 'sale', 'rpg', 'loan', 'hotel', 'pizza', 'suv'], 3),
    landing_domain: `shop${k % 17}.example`,
  }));
  const profiles: Snapshot[] = [];
  for (let u = 0; u < size.users; u++) {
    if (u % 7 === 6) continue; // no profile: the requester reads the declared defaults
    profiles.push({
      user_id: `u${u}`,
      ts_ms: before,
      age_band: pick(rand, AGE_BANDS),
      gender: pick(rand, ['f', 'm', 'x']),
      interests: someOf(rand, INTERESTS, 3),
      account_age_days: Math.floor(rand() * 2000),
      lifetime_spend: round2(rand() * 500),
      is_premium: rand() < 0.2,
    });
  }
  // A third of the profiles change during the training period (new interests, more spend).
  for (const p of profiles.filter((_, i) => i % 3 === 0)) {
    profiles.push({
      ...p,
      ts_ms: AD_T0 + Math.floor(rand() * UPDATES_END),
      interests: someOf(rand, INTERESTS, 3),
      lifetime_spend: round2((p.lifetime_spend as number) + 50),
      is_premium: true,
    });
  }
  const byTs = (a: Snapshot, b: Snapshot) => a.ts_ms - b.ts_ms;
  return {
    user_profiles: profiles.sort(byTs),
    advertisers: advertisers.sort(byTs),
    campaigns,
    ads,
  };
}

/** The click probability of an impression: interest in the ad's industry, the slot and the network. */
function clickProbability(snapshots: Record<EntityTable, Snapshot[]>, imp: AdEvent): number {
  const ad = asOf(snapshots.ads, 'ad_id', imp.ad_id, imp.ts_ms)!;
  const advertiser = asOf(snapshots.advertisers, 'advertiser_id', ad.advertiser_id as string, imp.ts_ms)!;
  const profile = asOf(snapshots.user_profiles, 'user_id', imp.user_id, imp.ts_ms);
  const interested = ((profile?.interests as string[] | undefined) ?? []).includes(
    advertiser.industry as string,
  );
  const logit =
    -3.4 +
    (interested ? 2.2 : 0) +
    (imp.slot! <= 1 ? 1.2 : -0.1 * imp.slot!) +
    (imp.network === 'wifi' ? 0.7 : 0);
  return 1 / (1 + Math.exp(-logit));
}

/** An impression and what follows it: a click in the attribution window, then maybe an install and a purchase. */
function impressionEvents(
  rand: Rand,
  snapshots: Record<EntityTable, Snapshot[]>,
  size: AdPlatformSize,
  n: number,
): AdEvent[] {
  const ts = AD_T0 + Math.floor(((n + rand()) * SPAN) / size.impressions);
  const base = {
    schema_version: 1 as const,
    user_id: `u${Math.floor(rand() * size.users)}`,
    ad_id: `ad${Math.floor(rand() * size.ads)}`,
    auction_id: `auc${n}`,
  };
  const imp: AdEvent = {
    ...base,
    event_id: `imp${n}`,
    type: 'ad_impression',
    ts_ms: ts,
    slot: Math.floor(rand() * 8),
    app_bundle: `com.app${Math.floor(rand() * 20)}`,
    os_version: pick(rand, ['16', '17', '18']),
    network: pick(rand, NETWORKS),
    floor_price: round2(rand() * 5),
  };
  const out = [imp];
  const clicked = rand() < clickProbability(snapshots, imp);
  // A few clicks come after the attribution window: history, not a label.
  const late = !clicked && rand() < 0.02;
  if (!clicked && !late) return out;
  const clickTs = ts + (late ? 2 * 60 * MINUTE : 1000 + Math.floor(rand() * 50_000));
  out.push({ ...base, event_id: `clk${n}`, type: 'ad_click', ts_ms: clickTs });
  if (rand() < 0.3) {
    out.push({ ...base, event_id: `ins${n}`, type: 'install', ts_ms: clickTs + 5 * MINUTE });
    if (rand() < 0.4) {
      const revenue = round2(1 + rand() * 20);
      out.push({ ...base, event_id: `pur${n}`, type: 'purchase', ts_ms: clickTs + 20 * MINUTE, revenue });
    }
  }
  return out;
}

/** Messages every ingest must refuse, each with the reason it must give. */
function malformedMessages(): Malformed[] {
  const imp = {
    schema_version: 1,
    event_id: 'bad-imp',
    type: 'ad_impression',
    ts_ms: AD_T0 + DAY,
    user_id: 'u1',
    ad_id: 'ad1',
    auction_id: 'auc-bad',
  };
  const json = (v: unknown) => JSON.stringify(v);
  const { auction_id: _auction, ...noAuction } = imp;
  return [
    { topic: 'events', key: 'u1', value: json(imp).slice(0, -5), reason: /^bad JSON/ },
    {
      topic: 'events',
      key: 'u1',
      value: json({ ...noAuction, event_id: 'bad-no-auction' }),
      reason: /^schema: missing required attribute 'auction_id'$/,
    },
    {
      topic: 'events',
      key: 'u1',
      value: json({ ...imp, event_id: 'bad-slot', slot: 'top' }),
      reason: /^schema: attribute 'slot': expected int, got string "top"$/,
    },
    {
      topic: 'events',
      key: 'u1',
      value: json({ ...imp, event_id: 'bad-type', type: 'video_view' }),
      reason:
        /^schema: unknown event type "video_view" \(expected one of: ad_impression, ad_click, install, purchase\)$/,
    },
    {
      topic: 'advertisers',
      key: 'adv-bad',
      value: json({ schema_version: 1, advertiser_id: 'adv-bad', ts_ms: AD_T0, quality_score: 0.1 }),
      reason: /^schema: missing required attribute 'industry'$/,
    },
    {
      topic: 'user_profiles',
      key: 'u-bad',
      value: json({
        schema_version: 1,
        user_id: 'u-bad',
        ts_ms: AD_T0,
        interests: Array.from({ length: 21 }, (_, i) => `i${i}`),
      }),
      reason: /^schema: attribute 'interests': more than 20 elements$/,
    },
  ];
}

/** The seeded data set: entities, events in time order, malformed messages, and the split times. */
export function adPlatformData(seed: number, size: AdPlatformSize): AdPlatformData {
  const rand = rng(seed);
  const snapshots = entities(rand, size);
  const events = Array.from({ length: size.impressions }, (_, n) =>
    impressionEvents(rand, snapshots, size, n),
  ).flat();
  events.sort((a, b) => a.ts_ms - b.ts_ms);
  return {
    events,
    snapshots,
    malformed: malformedMessages(),
    trainEndMs: AD_T0 + Math.floor(0.8 * SPAN),
    valEndMs: AD_T0 + Math.floor(0.9 * SPAN),
  };
}

/** A score request replaying an impression of the test period. */
export interface ReplayRequest {
  request_id: string;
  user_id: string;
  ts_ms: number;
  context?: { app_bundle?: string; os_version?: string; network?: string; floor_price?: number };
  candidates: { item_id: string; slot?: number }[];
}

/**
 * `count` requests replaying the first impressions at or after `fromMs`: the impression's ad in its
 * slot plus other ads (some without a slot), an ad no snapshot names in every fifth request, and every
 * third request without context (the defaults).
 */
export function replayRequests(
  data: AdPlatformData,
  fromMs: number,
  count: number,
  ads: number,
): ReplayRequest[] {
  const imps = data.events.filter((e) => e.type === 'ad_impression' && e.ts_ms >= fromMs).slice(0, count);
  return imps.map((imp, k) => {
    const others = Array.from({ length: 1 + (k % 6) }, (_, j) => ({
      item_id: `ad${(k * 13 + j * 7) % ads}`,
      ...(j % 2 ? {} : { slot: (k + j) % 10 }),
    }));
    const { app_bundle, os_version, network, floor_price } = imp;
    return {
      request_id: `replay-${imp.auction_id}`,
      user_id: imp.user_id,
      ts_ms: imp.ts_ms,
      ...(k % 3 === 2 ? {} : { context: { app_bundle, os_version, network, floor_price } }),
      candidates: [
        { item_id: imp.ad_id, slot: imp.slot },
        ...others,
        ...(k % 5 === 4 ? [{ item_id: `ad-unknown-${k}` }] : []),
      ],
    };
  });
}
