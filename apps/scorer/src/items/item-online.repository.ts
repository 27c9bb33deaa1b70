import { Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '@mmctr/config';
import type { DependencyCheck } from '@mmctr/observability';
import type { AttributeType } from '@mmctr/feature-repo';
import type { RawValue } from '@mmctr/features';
import { OnlineStore, SlotBatch, entityVectorKey, redisHealth } from '@mmctr/online-store';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';
import { SERVING_LAYOUT } from '../layout/layout.module';
import type { ServingLayout } from '../layout/serving-layout';
import { SCORER_REDIS } from '../redis/redis.module';

export interface OnlineItem {
  item_id: string;
  /** The attributes the layout reads, by name (absent where Redis has no field). */
  attributes: Record<string, RawValue>;
  ts_ms: number;
  /** Fused vector, when Redis holds one. */
  vector: Float32Array | null;
}

/** Decodes a stored vector: raw Float32 little-endian bytes, or a JSON array of numbers. */
export function decodeVector(raw: Buffer | null): Float32Array | null {
  if (!raw || raw.length === 0) return null;
  if (raw[0] === 0x5b /* '[' */) {
    try {
      const parsed = JSON.parse(raw.toString('utf8')) as unknown;
      return Array.isArray(parsed) ? Float32Array.from(parsed as number[]) : null;
    } catch {
      return null;
    }
  }
  if (raw.length % 4 !== 0) return null;
  const out = new Float32Array(raw.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = raw.readFloatLE(i * 4);
  return out;
}

/** A stored item field as its attribute type: lists are JSON, numbers and booleans text. */
export function decodeAttribute(type: AttributeType, raw: string | null): RawValue {
  if (raw === null) return undefined;
  switch (type) {
    case 'string_list':
      try {
        const list = JSON.parse(raw) as unknown;
        return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
      } catch {
        return [];
      }
    case 'int':
    case 'float':
      return raw === '' ? undefined : Number(raw);
    case 'bool':
      return raw === 'true' || raw === '1';
    case 'string':
      return raw;
  }
}

/** Items missing from the in-process cache, read from the online store in one pipeline. */
@Injectable()
export class ItemOnlineRepository {
  private readonly vectorKey: (id: string) => string;
  /** The `emb:` key of a candidate's vector when the layout stores an entity embedding. */
  private readonly entityVectorKey: ((id: string) => string) | undefined;

  constructor(
    @Inject(SCORER_REDIS) private readonly redis: Redis,
    private readonly store: OnlineStore,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(SCORER_CONFIG) scorer: ScorerConfig,
    @Inject(SERVING_LAYOUT) private readonly layout: ServingLayout,
  ) {
    const template = scorer.SCORER_REDIS_VECTOR_KEY.replace('{prefix}', config.REDIS_KEY_PREFIX);
    this.vectorKey = (id) => template.replace('{item_id}', id);
    const e = layout.embedding;
    if (e?.store === 'entity')
      this.entityVectorKey = (id) => entityVectorKey(config.REDIS_KEY_PREFIX, e.name, id);
  }

  /** Whether the scorer's Redis answers (within the request budget: the connection's command timeout). */
  ping(): Promise<DependencyCheck> {
    return redisHealth(this.redis);
  }

  /** Features of each id in order (null where Redis knows nothing). One round trip. */
  async fetch(ids: readonly string[]): Promise<(OnlineItem | null)[]> {
    if (ids.length === 0) return [];
    if (!this.layout.catalogue) return this.fetchEntities(ids);
    const attrs = this.layout.itemAttributes;
    const fields = attrs.map((a) => a.name);
    // One pipeline per hash slot on a Redis Cluster; one pipeline on a single server.
    const vectors = this.layout.embedding !== undefined;
    const batch = new SlotBatch(this.redis);
    for (const id of ids) {
      batch.on(this.store.itemKey(id)).hmget(this.store.itemKey(id), 'item_id', 'ts_ms', ...fields);
      if (vectors) batch.on(this.vectorKey(id)).hgetBuffer(this.vectorKey(id), 'v');
    }
    const results = await batch.exec();
    const per = vectors ? 2 : 1;
    return ids.map((id, i) => {
      const h = results[per * i];
      const [itemId, ts, ...values] = h as (string | null)[];
      const vector = vectors ? decodeVector(results[per * i + 1] as Buffer | null) : null;
      if (itemId == null && !vector) return null;
      const attributes = Object.fromEntries(
        attrs.map((a, k) => [a.name, decodeAttribute(a.type, values[k]!)]),
      );
      return { item_id: id, attributes, ts_ms: Number(ts ?? 0), vector };
    });
  }

  /** A candidate entity other than the catalogue: its `ent:` hashes (JSON values) and its `emb:` vectors. */
  private async fetchEntities(ids: readonly string[]): Promise<(OnlineItem | null)[]> {
    const attrs = this.layout.itemAttributes.map((a) => a.name);
    const key = this.entityVectorKey;
    const [found, vectors] = await Promise.all([
      this.store.getEntities(this.layout.candidateEntity, ids, attrs),
      key ? this.entityVectors(ids.map(key)) : undefined,
    ]);
    return found.map((h, i) => {
      if (!h) return null;
      const vector = vectors?.[i] ?? null;
      const attributes = Object.fromEntries(attrs.map((a) => [a, h[a] as RawValue]));
      return { item_id: ids[i]!, attributes, ts_ms: Number(h.ts_ms), vector };
    });
  }

  private async entityVectors(keys: readonly string[]): Promise<(Float32Array | null)[]> {
    const batch = new SlotBatch(this.redis);
    for (const k of keys) batch.on(k).hgetBuffer(k, 'v');
    return (await batch.exec()).map((raw) => decodeVector(raw as Buffer | null));
  }
}
