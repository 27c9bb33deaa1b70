/**
 * Redis key of an item's fused multimodal vector (written by apps/embedder, read by apps/scorer). Its
 * own `mm:` namespace: under `item:<id>:mm` an item whose id ends in `:mm` would share the key of
 * another item's feature hash.
 */
export const MM_VECTOR_KEY_TEMPLATE = '{prefix}mm:{item_id}';

export const mmVectorKey = (keyPrefix: string, itemId: string): string =>
  MM_VECTOR_KEY_TEMPLATE.replace('{prefix}', keyPrefix).replace('{item_id}', itemId);
