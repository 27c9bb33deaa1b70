import type { ItemFeatures } from '@mmctr/online-store';

/**
 * The least an embedding job needs: an item with a content hash and a placeholder title, no text, tags
 * or image (the queue tests count and name jobs, they do not embed them).
 */
export function embeddingJobItem(item_id: string, content_hash: string): ItemFeatures {
  return { item_id, ts_ms: 1, title: 't', description: '', category: '', tags: [], image: '', content_hash };
}
