/**
 * Redis key of an item's fused multimodal vector (written by apps/embedder, read by apps/scorer). Its
 * own `mm:` namespace: under `item:<id>:mm` an item whose id ends in `:mm` would share the key of
 * another item's feature hash.
 */
export const MM_VECTOR_KEY_TEMPLATE = '{prefix}mm:{item_id}';

export const mmVectorKey = (keyPrefix: string, itemId: string): string =>
  MM_VECTOR_KEY_TEMPLATE.replace('{prefix}', keyPrefix).replace('{item_id}', itemId);

/**
 * Redis key of an entity's vector for a repository-declared embedding (libs/feature-repo embeddingStore
 * 'entity'): `{prefix}emb:<embedding>:<key>`, a hash like the `mm:` one (ts_ms, content_hash, v).
 * Embedding names have no ':', so no two embeddings share a key.
 */
export const entityVectorKey = (keyPrefix: string, embedding: string, key: string): string =>
  `${keyPrefix}emb:${embedding}:${key}`;
