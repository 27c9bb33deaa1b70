/** What the text encoder reads of an item: title, description and tags, in that order. */
export function itemText(item: { title?: string; description?: string; tags?: readonly string[] }): string {
  const tags = (item.tags ?? []).filter(Boolean).join(', ');
  return [item.title, item.description, tags]
    .map((s) => (s ?? '').trim())
    .filter(Boolean)
    .join('. ');
}

export const MAX_TOKENS = 128;

/**
 * Cuts a [CLS] ... [SEP] id sequence to `max` ids, keeping the final [SEP] (the tokenizer itself
 * does not truncate).
 */
export function truncateIds(ids: readonly number[], max: number, sepId: number): number[] {
  if (ids.length <= max) return [...ids];
  const out = ids.slice(0, max - 1);
  out.push(sepId);
  return out;
}
