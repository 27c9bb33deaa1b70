import type { ItemCache } from '../items/item-cache';
import { FeatureAssembler } from '../scoring/feature-assembler';
import { checkOutput, type OnnxModel } from './onnx-model';

/** At most this many cached items are scored at warm-up (spread evenly over the cache's rows). */
export const WARM_UP_ITEMS = 4096;
const WARM_UP_BATCH = 512;
const HOUR_MS = 3_600_000;

/**
 * Scores real items from the item cache before a version serves: candidates spread over the cache, a
 * history of real items, so a model that is finite on synthetic all-zero inputs but NaN on real
 * features is refused (NonFiniteOutputError) instead of answering NaN. Returns how many items it scored.
 */
export async function warmUpWithItems(
  model: OnnxModel,
  cache: ItemCache,
  assembler = new FeatureAssembler(model.layout),
  now = Date.now(),
): Promise<number> {
  const total = Math.min(cache.size, WARM_UP_ITEMS);
  if (total === 0) return 0;
  const step = cache.size / total;
  const batch = Math.max(1, Math.min(model.capacity, WARM_UP_BATCH));
  // Each sequence over the candidate entity holds real items; others stay empty.
  const sequences = model.layout.sequences.map((s) => {
    const rows = Int32Array.from({ length: s.itemTarget ? Math.min(s.length, total) : 0 }, (_, i) =>
      Math.floor(i * step),
    );
    const ids = Array.from(rows, (r) => cache.itemId(r));
    return { ids, rows, tsMs: ids.map((_, i) => now - HOUR_MS * (i + 1)) };
  });
  // Integer candidate attributes (a slot, a position) take the candidate's index, others their default.
  const intAttributes = model.layout.repo.context.attributes
    .filter((a) => a.scope === 'candidate' && a.type === 'int')
    .map((a) => a.name);
  const buffers = model.acquireBuffers();
  try {
    for (let start = 0; start < total; start += batch) {
      const count = Math.min(batch, total - start);
      const candidateRows = Int32Array.from({ length: count }, (_, i) => Math.floor((start + i) * step));
      const candidateIds = Array.from(candidateRows, (r) => cache.itemId(r));
      const indices = candidateIds.map((_, i) => i);
      assembler.assemble(cache, buffers, {
        userId: 'warm-up',
        context: {},
        tsMs: now,
        sequences,
        candidateIds,
        candidateRows,
        candidateContext: Object.fromEntries(intAttributes.map((a) => [a, indices])),
      });
      checkOutput(model.version, await model.runAlone(buffers, count), count, 'cached items at warm-up');
    }
  } finally {
    model.releaseBuffers(buffers);
  }
  return total;
}
