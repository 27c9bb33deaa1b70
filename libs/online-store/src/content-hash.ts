import { createHash } from 'node:crypto';
import type { CatalogueItem } from '@mmctr/contracts';

/**
 * Hash of what an item's embedding is computed from (title, description, category, tags, image).
 * Absent and empty optional fields hash the same, so a producer that starts sending `tags: []`
 * does not trigger a re-embedding. Fields are JSON-encoded as an array so no separator can collide.
 */
export function contentHash(
  item: Pick<CatalogueItem, 'title' | 'description' | 'category' | 'tags' | 'image'>,
) {
  const canonical = JSON.stringify([
    item.title,
    item.description ?? '',
    item.category ?? '',
    item.tags ?? [],
    item.image ?? '',
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * BullMQ job id for embedding one version of an item's content: the same item and content always
 * give the same id (BullMQ ignores an add whose id exists), and it never contains ':' (BullMQ
 * rejects those). encodeURIComponent escapes ':' and every other separator in the item id.
 */
export function embeddingJobId(itemId: string, hash: string): string {
  return `item-${encodeURIComponent(itemId)}-${hash}`;
}
