// What the feature-assembly benches share: seeded draws and the requests drawn with them, a layout's item
// cache with its assembler and input buffers, and a timer.
import {
  FeatureAssembler,
  InputBuffers,
  ItemCache,
  type ItemRecord,
  type ServingLayout,
} from '@mmctr/scorer';

/** Seeded draws (a linear congruential generator): `rand()` in [0, 1), `pick(n)` in [0, n). */
export function seededDraws(seed: number): { rand: () => number; pick: (n: number) => number } {
  let state = seed;
  const rand = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  return { rand, pick: (n: number) => Math.floor(rand() * n) };
}

/** The users `u0` .. and items `i0` .. (those of assemblySide's cache) a bench's requests are drawn from. */
export interface Population {
  users: number;
  items: number;
}

/**
 * `count` requests drawn with `pick` from `population`: a user and `candidates` items each, then
 * `history` more items (the user's history; none by default).
 */
export function drawRequests(
  pick: (n: number) => number,
  population: Population,
  count: number,
  candidates: number,
  history = 0,
): { user: string; ids: string[]; history: string[] }[] {
  return Array.from({ length: count }, () => ({
    user: `u${pick(population.users)}`,
    ids: Array.from({ length: candidates }, () => `i${pick(population.items)}`),
    history: Array.from({ length: history }, () => `i${pick(population.items)}`),
  }));
}

/**
 * An item cache of `layout` holding items `i0` .. `i<items - 1>` (their attributes from `attributes`),
 * an assembler of the layout and its input buffers for `batch` candidates.
 */
export function assemblySide(
  layout: ServingLayout,
  items: number,
  batch: number,
  attributes: (i: number) => ItemRecord['attributes'],
) {
  const cache = new ItemCache(layout);
  for (let i = 0; i < items; i++) cache.upsertItem({ item_id: `i${i}`, ts_ms: 0, attributes: attributes(i) });
  return {
    layout,
    cache,
    assembler: new FeatureAssembler(layout),
    buffers: new InputBuffers(layout.inputs, batch),
  };
}

/** Milliseconds since `from` (a process.hrtime.bigint()). */
export const msSince = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e6;
