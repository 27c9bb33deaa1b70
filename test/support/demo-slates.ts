import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import { rng } from './ingest/events';

/** The demo end-to-end tests' sizes: users, items, slates and items per slate; categories c0..c5. */
export const SLATES = { users: 40, items: 60, slates: 1200, slate: 5 };
export const CATEGORIES = 6;
const DAY = 86_400_000;

/** Catalogue item `i<k>` as of `ts`, in category `c<category % 6>`. */
export const itemVersion = (k: number, ts: number, category: number): CatalogueItem => ({
  schema_version: 1,
  item_id: `i${k}`,
  ts_ms: ts,
  title: `item ${k}`,
  category: `c${category % CATEGORIES}`,
  tags: [`t${k % 4}`, `t${k % 7}`],
});

/**
 * The slates' catalogue: every item a day before `t0` (`first`), and every fourth one re-categorised at
 * `recategorisedMs` (`updated`): an as-of join reads the old version before it, the new one after.
 */
export function slateCatalogue(
  t0: number,
  recategorisedMs: number,
): { first: CatalogueItem[]; updated: CatalogueItem[] } {
  const first = Array.from({ length: SLATES.items }, (_, k) => itemVersion(k, t0 - DAY, k));
  const updated = first
    .filter((_, k) => k % 4 === 0)
    .map((_, j) => itemVersion(4 * j, recategorisedMs, 4 * j + 1));
  return { first, updated };
}

/** The category of `itemId` at `ts`: its newest version at or before `ts` (`items` oldest first). */
export const categoryAt = (items: readonly CatalogueItem[], itemId: string, ts: number): string =>
  items.filter((i) => i.item_id === itemId && i.ts_ms <= ts).at(-1)!.category!;

/** The slates whose impressions are at or after `fromMs`, each its impressions, in time order. */
export function slatesFrom(events: readonly BehaviourEvent[], fromMs: number): BehaviourEvent[][] {
  const slates = new Map<string, BehaviourEvent[]>();
  for (const e of events) {
    if (e.type !== 'impression' || e.ts_ms < fromMs) continue;
    slates.set(e.request_id, [...(slates.get(e.request_id) ?? []), e]);
  }
  return [...slates.values()];
}

/**
 * Seeded slates of impressions spread over [t0, t0 + spreadMs); a user clicks items of its own category
 * (u % 6, the item's category read by `categoryAt` at the impression) far more often, two seconds after
 * the impression, in the same slate. In time order.
 */
export function slateBehaviour(
  seed: number,
  t0: number,
  spreadMs: number,
  categoryAt: (itemId: string, ts: number) => string,
): BehaviourEvent[] {
  const rand = rng(seed);
  const events: BehaviourEvent[] = [];
  for (let s = 0; s < SLATES.slates; s++) {
    const u = Math.floor(rand() * SLATES.users);
    const ts = t0 + Math.floor(((s + rand()) * spreadMs) / SLATES.slates);
    const context = { device: u % 2 ? 'ios' : 'android', placement: 'feed', country: u % 3 ? 'DE' : 'FR' };
    for (let p = 0; p < SLATES.slate; p++) {
      const item_id = `i${Math.floor(rand() * SLATES.items)}`;
      const base = {
        schema_version: 1 as const,
        user_id: `u${u}`,
        item_id,
        request_id: `r${s}`,
        position: p,
      };
      events.push({ ...base, event_id: `imp-${s}-${p}`, type: 'impression', ts_ms: ts, context });
      const liked = categoryAt(item_id, ts) === `c${u % CATEGORIES}`;
      if (rand() < (liked ? 0.6 : 0.05)) {
        events.push({ ...base, event_id: `clk-${s}-${p}`, type: 'click', ts_ms: ts + 2000, context });
      }
    }
  }
  return events.sort((a, b) => a.ts_ms - b.ts_ms);
}
