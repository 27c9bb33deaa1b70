// When requests happen: sessions of a few requests each, users drawn in proportion to their
// activity, start times following a day/night cycle. Slate sizes are fixed here so that the total
// number of impressions is exact.
import { DAY_MS, type Periods, type SynthConfig } from './config';
import { type Rng, searchCumulative } from './prng';
import type { UserTable } from './users';

/** Requests in time order (struct of arrays). */
export interface Schedule {
  count: number;
  user: Int32Array;
  tsMs: Float64Array;
  slateSize: Int32Array;
  placement: Uint8Array;
}

export const requestId = (r: number): string => `req-${r + 1}`;

export function generateSchedule(cfg: SynthConfig, periods: Periods, users: UserTable, rng: Rng): Schedule {
  const rc = cfg.requests;
  const cumActivity = new Float64Array(users.count);
  let acc = 0;
  for (let u = 0; u < users.count; u++) cumActivity[u] = acc += users.activity[u] as number;

  const span = periods.endMs - periods.startMs;
  const peakHour = 20;
  const sessionStart = (): number => {
    // Rejection sampling against 1 + A cos(2 pi (hour - peak) / 24).
    for (;;) {
      const t = rng.uniform(0, span);
      const hour = ((t % DAY_MS) / 3_600_000 - peakHour) / 24;
      const density = (1 + rc.diurnalAmplitude * Math.cos(2 * Math.PI * hour)) / (1 + rc.diurnalAmplitude);
      if (rng.next() < density) return periods.startMs + t;
    }
  };

  const userList: number[] = [];
  const tsList: number[] = [];
  const sizeList: number[] = [];
  const placementList: number[] = [];
  let remaining = rc.impressions;
  const stopExtra = 1 / (1 + rc.extraRequestsPerSession); // geometric: mean extra = extraRequestsPerSession
  while (remaining > 0) {
    const user = searchCumulative(cumActivity, users.count, rng.next() * acc);
    let t = sessionStart();
    for (;;) {
      if (t >= periods.endMs || remaining <= 0) break;
      const size = Math.min(remaining, rng.int(rc.slateMin, rc.slateMax));
      userList.push(user);
      tsList.push(Math.floor(t));
      sizeList.push(size);
      placementList.push(rng.weighted(rc.placementWeights));
      remaining -= size;
      if (rng.next() < stopExtra) break;
      t += 1000 * rng.uniform(rc.sessionGapSeconds[0], rc.sessionGapSeconds[1]);
    }
  }

  // Time order; ties keep generation order so the result is stable.
  const order = Array.from({ length: tsList.length }, (_, i) => i);
  order.sort((a, b) => (tsList[a] as number) - (tsList[b] as number) || a - b);
  const n = order.length;
  const s: Schedule = {
    count: n,
    user: new Int32Array(n),
    tsMs: new Float64Array(n),
    slateSize: new Int32Array(n),
    placement: new Uint8Array(n),
  };
  order.forEach((src, r) => {
    s.user[r] = userList[src] as number;
    s.tsMs[r] = tsList[src] as number;
    s.slateSize[r] = sizeList[src] as number;
    s.placement[r] = placementList[src] as number;
  });
  return s;
}
