import type Redis from 'ioredis';
import type { AppConfig } from '@mmctr/config';
import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import { contentHash } from './content-hash';
import { historyMember, itemOfMember, type HistoryEntry, type HistoryOptions } from './history';
import { SlotBatch, groupBySlot } from './slot-batch';

export interface OnlineStoreOptions extends HistoryOptions {
  /** Prefix of every key this store writes (REDIS_KEY_PREFIX), so deployments and tests can share a Redis. */
  keyPrefix: string;
  /** Expiry of a user's list after its last update, seconds; 0 keeps it forever. */
  historyTtlS: number;
}

/** An item's online features, as the scorer reads them. */
export interface ItemFeatures {
  item_id: string;
  ts_ms: number;
  title: string;
  description: string;
  category: string;
  tags: string[];
  image: string;
  content_hash: string;
}

/** One item version to store: `changed` when its content differs from the stored (or no) version. */
export interface ItemUpsert {
  features: ItemFeatures;
  changed: boolean;
}

// Writes the version only if it is not older than the stored one (items can arrive out of order).
// KEYS[1] = item hash; ARGV[1] = ts_ms; ARGV[2..] = field, value pairs.
const UPSERT_ITEM_LUA = `
local cur = redis.call('HGET', KEYS[1], 'ts_ms')
if cur and tonumber(cur) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
`;

// The same newest-wins rule for the hash of any snapshot entity; values are JSON-encoded.
// KEYS[1] = entity hash; ARGV[1] = ts_ms; ARGV[2..] = field, value pairs.
const UPSERT_ENTITY_LUA = UPSERT_ITEM_LUA;

/**
 * One behaviour list per owner: events of `types` enter `${prefix}hist:${keyInfix}<owner key>` as
 * `<target key>|<event_id>` scored by ts_ms (the demo's clicks: infix '', owner user_id, target item_id).
 */
export interface BehaviourList {
  readonly keyInfix: string;
  readonly types: readonly string[];
  readonly ownerKey: string;
  readonly targetKey: string;
}

/** An event as the behaviour lists read it: its id, type, time and entity keys by name. */
export interface BehaviourRecord {
  readonly event_id: string;
  readonly type: string;
  readonly ts_ms: number;
}

const field = (e: BehaviourRecord, name: string): string => (e as unknown as Record<string, string>)[name]!;

// Adds many users' behaviour in one call (one command instead of three per user keeps the client's
// per-command cost, which dominated ingest's Redis time, flat). Each key is trimmed to the cap and
// given the TTL. KEYS = history keys; ARGV[1] = cap, ARGV[2] = ttl seconds (0: none), then per key:
// n, followed by n (score, member) pairs. ZADD takes at most 500 pairs per call (Lua's unpack limit).
// On a Redis Cluster the keys of one call share a hash slot (see sendLists).
const RECORD_BEHAVIOUR_LUA = `
local cap = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local i = 3
for k = 1, #KEYS do
  local n = tonumber(ARGV[i])
  i = i + 1
  local done = 0
  while done < n do
    local take = math.min(500, n - done)
    local args = {}
    for j = 1, 2 * take do args[j] = ARGV[i + j - 1] end
    redis.call('ZADD', KEYS[k], unpack(args))
    i = i + 2 * take
    done = done + take
  end
  redis.call('ZREMRANGEBYRANK', KEYS[k], 0, -(cap + 1))
  if ttl > 0 then redis.call('EXPIRE', KEYS[k], ttl) end
end
return #KEYS
`;

/** Bounds on one script call (how long it holds Redis, and the client's argument spread). */
const USERS_PER_CALL = 500;
const PAIRS_PER_CALL = 10_000;

type RecordBehaviourPipeline = ReturnType<Redis['pipeline']> & {
  mmctrRecordBehaviour(...args: (string | number)[]): RecordBehaviourPipeline;
};

export function itemFeatures(item: CatalogueItem): ItemFeatures {
  return {
    item_id: item.item_id,
    ts_ms: item.ts_ms,
    title: item.title,
    description: item.description ?? '',
    category: item.category ?? '',
    tags: item.tags ?? [],
    image: item.image ?? '',
    content_hash: contentHash(item),
  };
}

/**
 * The Redis online store: each user's recent behaviour (a sorted set scored by ts_ms, so redelivery
 * and out-of-order arrival converge to the same list) and each item's features (a hash).
 */
export class OnlineStore {
  /** The list the scorer reads: `hist:<user_id>`, item ids, of the configured types. */
  private readonly defaultList: BehaviourList;

  constructor(
    private readonly redis: Redis,
    private readonly opts: OnlineStoreOptions,
  ) {
    this.defaultList = { keyInfix: '', types: opts.types, ownerKey: 'user_id', targetKey: 'item_id' };
    if (!('mmctrUpsertEntity' in redis))
      redis.defineCommand('mmctrUpsertEntity', { numberOfKeys: 1, lua: UPSERT_ENTITY_LUA });
    if (!('mmctrUpsertItem' in redis))
      redis.defineCommand('mmctrUpsertItem', { numberOfKeys: 1, lua: UPSERT_ITEM_LUA });
    if (!('mmctrRecordBehaviour' in redis))
      redis.defineCommand('mmctrRecordBehaviour', { lua: RECORD_BEHAVIOUR_LUA });
  }

  historyKey(userId: string, keyInfix = ''): string {
    return `${this.opts.keyPrefix}hist:${keyInfix}${userId}`;
  }

  /** The hash of a snapshot entity other than the item: attribute fields plus ts_ms. */
  entityKey(entity: string, key: string): string {
    return `${this.opts.keyPrefix}ent:${entity}:${key}`;
  }

  itemKey(itemId: string): string {
    return `${this.opts.keyPrefix}item:${itemId}`;
  }

  /** Adds the behaviour events of the configured types; returns how many it considered. One round trip. */
  recordBehaviour(events: readonly BehaviourEvent[]): Promise<number> {
    return this.recordLists(events, [this.defaultList]);
  }

  /** Adds each event to the lists whose types include it; returns how many entries it considered. One round trip. */
  async recordLists(events: readonly BehaviourRecord[], lists: readonly BehaviourList[]): Promise<number> {
    const byKey = new Map<string, (string | number)[]>();
    let n = 0;
    for (const list of lists) {
      const types = new Set(list.types);
      for (const e of events) {
        if (!types.has(e.type)) continue;
        const key = this.historyKey(field(e, list.ownerKey), list.keyInfix);
        let args = byKey.get(key);
        if (!args) byKey.set(key, (args = []));
        args.push(e.ts_ms, historyMember(field(e, list.targetKey), e.event_id));
        n++;
      }
    }
    return byKey.size === 0 ? n : this.sendLists(byKey).then(() => n);
  }

  private async sendLists(byKey: Map<string, (string | number)[]>): Promise<void> {
    const batch = new SlotBatch<RecordBehaviourPipeline>(this.redis);
    let keys: string[] = [];
    let argv: (string | number)[] = [];
    const send = () => {
      // numkeys first, as ioredis expects for a command defined without a fixed key count.
      batch
        .on(keys[0]!)
        .mmctrRecordBehaviour(keys.length, ...keys, this.opts.cap, this.opts.historyTtlS, ...argv);
      keys = [];
      argv = [];
    };
    // A Redis Cluster refuses a script whose keys span hash slots: each call takes one slot's keys (a
    // single server has one group, all keys).
    for (const group of groupBySlot(this.redis, byKey)) {
      for (const [key, pairs] of group) {
        // A very active user's pairs may span calls: each call trims to the cap, which converges to the
        // same list because entries trimmed away can never rank among the newest `cap` again.
        for (let at = 0; at < pairs.length; at += 2 * PAIRS_PER_CALL) {
          const part = pairs.slice(at, at + 2 * PAIRS_PER_CALL);
          keys.push(key);
          argv.push(part.length / 2);
          for (const a of part) argv.push(a);
          if (keys.length >= USERS_PER_CALL || argv.length >= 2 * PAIRS_PER_CALL) send();
        }
      }
      if (keys.length > 0) send();
    }
    await batch.exec();
  }

  /**
   * Stores snapshot versions of `entity` in its hashes (fields: `attributes` and ts_ms, values
   * JSON-encoded); a stored newer version is kept, so out-of-order snapshots converge. One round trip.
   */
  async upsertEntities(
    entity: string,
    key: string,
    attributes: readonly string[],
    records: readonly Readonly<Record<string, unknown>>[],
  ): Promise<void> {
    if (records.length === 0) return;
    const batch = new SlotBatch<
      ReturnType<Redis['pipeline']> & {
        mmctrUpsertEntity(key: string, ...args: (string | number)[]): unknown;
      }
    >(this.redis);
    for (const r of records) {
      const args: (string | number)[] = [r.ts_ms as number, 'ts_ms', r.ts_ms as number];
      for (const a of attributes) args.push(a, JSON.stringify(r[a]));
      const hash = this.entityKey(entity, r[key] as string);
      batch.on(hash).mmctrUpsertEntity(hash, ...args);
    }
    await batch.exec();
  }

  /** The user's most recent behaviour, newest first (at most `limit`, at most the cap). */
  async getHistory(userId: string, limit: number = this.opts.cap): Promise<HistoryEntry[]> {
    if (limit <= 0) return [];
    return historyEntries(await this.redis.zrevrange(this.historyKey(userId), 0, limit - 1, 'WITHSCORES'));
  }

  /**
   * One request's reads in one round trip: the owner's newest entries of each list (at most `limit`
   * each, newest first) and, when `entity` is given, the owner's entity hash (decoded as
   * upsertEntities wrote it; null when there is none).
   */
  async readOwner(
    ownerKey: string,
    lists: readonly { keyInfix: string; limit: number }[],
    entity?: { name: string; attributes: readonly string[] },
  ): Promise<{ lists: HistoryEntry[][]; entity: Record<string, unknown> | null }> {
    const batch = new SlotBatch(this.redis);
    for (const l of lists) {
      const key = this.historyKey(ownerKey, l.keyInfix);
      if (l.limit > 0) batch.on(key).zrevrange(key, 0, l.limit - 1, 'WITHSCORES');
    }
    const hash = entity ? this.entityKey(entity.name, ownerKey) : undefined;
    if (hash) batch.on(hash).hmget(hash, 'ts_ms', ...entity!.attributes);
    const results = await batch.exec();
    let at = 0;
    const read = lists.map((l) => (l.limit > 0 ? historyEntries(results[at++] as string[]) : []));
    return {
      lists: read,
      entity: hash ? entityRecord(entity!.attributes, results[at] as (string | null)[]) : null,
    };
  }

  /** Hashes of snapshot entities by key, decoded as upsertEntities wrote them (null: none). One round trip. */
  async getEntities(
    entity: string,
    keys: readonly string[],
    attributes: readonly string[],
  ): Promise<(Record<string, unknown> | null)[]> {
    if (keys.length === 0) return [];
    const batch = new SlotBatch(this.redis);
    for (const k of keys) {
      const hash = this.entityKey(entity, k);
      batch.on(hash).hmget(hash, 'ts_ms', ...attributes);
    }
    const results = (await batch.exec()) as (string | null)[][];
    return results.map((r) => entityRecord(attributes, r));
  }

  /**
   * Decides, for the newest version of each item in `items`, whether its content changed against the
   * stored version. Versions older than the stored one are dropped. One round trip.
   */
  async planItemUpserts(items: readonly CatalogueItem[]): Promise<ItemUpsert[]> {
    const newest = new Map<string, CatalogueItem>();
    for (const item of items) {
      const cur = newest.get(item.item_id);
      if (!cur || item.ts_ms >= cur.ts_ms) newest.set(item.item_id, item);
    }
    if (newest.size === 0) return [];
    const list = [...newest.values()];
    const batch = new SlotBatch(this.redis);
    for (const item of list) {
      const hash = this.itemKey(item.item_id);
      batch.on(hash).hmget(hash, 'ts_ms', 'content_hash');
    }
    const stored = (await batch.exec()) as [string | null, string | null][];
    const out: ItemUpsert[] = [];
    list.forEach((item, i) => {
      const [ts, hash] = stored[i]!;
      if (ts !== null && Number(ts) > item.ts_ms) return;
      const features = itemFeatures(item);
      out.push({ features, changed: hash !== features.content_hash });
    });
    return out;
  }

  /** Stores item versions (a stored newer version is kept). One round trip. */
  async writeItems(upserts: readonly ItemUpsert[]): Promise<void> {
    if (upserts.length === 0) return;
    const batch = new SlotBatch<
      ReturnType<Redis['pipeline']> & { mmctrUpsertItem(key: string, ...args: (string | number)[]): unknown }
    >(this.redis);
    for (const { features: f } of upserts) {
      const hash = this.itemKey(f.item_id);
      batch
        .on(hash)
        .mmctrUpsertItem(
          hash,
          f.ts_ms,
          'item_id',
          f.item_id,
          'ts_ms',
          f.ts_ms,
          'title',
          f.title,
          'description',
          f.description,
          'category',
          f.category,
          'tags',
          JSON.stringify(f.tags),
          'image',
          f.image,
          'content_hash',
          f.content_hash,
        );
    }
    await batch.exec();
  }

  /**
   * Upserts items; `onChanged` runs before the write with the new or changed ones, so that a crash
   * between the two repeats `onChanged` on redelivery instead of forgetting it.
   */
  async upsertItems(
    items: readonly CatalogueItem[],
    onChanged?: (changed: ItemFeatures[]) => Promise<void>,
  ): Promise<ItemUpsert[]> {
    const upserts = await this.planItemUpserts(items);
    const changed = upserts.filter((u) => u.changed).map((u) => u.features);
    if (onChanged && changed.length > 0) await onChanged(changed);
    await this.writeItems(upserts);
    return upserts;
  }

  /** Features of each id, in order (null where unknown). One round trip. */
  async getItems(ids: readonly string[]): Promise<(ItemFeatures | null)[]> {
    if (ids.length === 0) return [];
    const batch = new SlotBatch(this.redis);
    for (const id of ids) batch.on(this.itemKey(id)).hgetall(this.itemKey(id));
    const rows = (await batch.exec()) as Record<string, string>[];
    return rows.map((h) =>
      h && h.item_id !== undefined
        ? {
            item_id: h.item_id,
            ts_ms: Number(h.ts_ms),
            title: h.title ?? '',
            description: h.description ?? '',
            category: h.category ?? '',
            tags: JSON.parse(h.tags ?? '[]') as string[],
            image: h.image ?? '',
            content_hash: h.content_hash ?? '',
          }
        : null,
    );
  }
}

function historyEntries(flat: readonly string[]): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2)
    out.push({ item_id: itemOfMember(flat[i]!), ts_ms: Number(flat[i + 1]) });
  return out;
}

/** An entity hash's fields (JSON values, as upsertEntities writes them) plus ts_ms; null when it has no ts_ms. */
function entityRecord(
  attributes: readonly string[],
  [ts, ...values]: readonly (string | null)[],
): Record<string, unknown> | null {
  if (ts === null || ts === undefined) return null;
  const out: Record<string, unknown> = { ts_ms: Number(ts) };
  attributes.forEach((a, i) => {
    const raw = values[i];
    if (raw === null || raw === undefined) return;
    try {
      out[a] = JSON.parse(raw) as unknown;
    } catch {
      out[a] = raw;
    }
  });
  return out;
}

/** The store as every app configures it: key prefix, history event types, cap and expiry from config. */
export function onlineStoreFromConfig(
  redis: Redis,
  c: Pick<
    AppConfig,
    'REDIS_KEY_PREFIX' | 'ONLINE_HISTORY_TYPES' | 'ONLINE_HISTORY_CAP' | 'ONLINE_HISTORY_TTL_S'
  >,
): OnlineStore {
  return new OnlineStore(redis, {
    keyPrefix: c.REDIS_KEY_PREFIX,
    types: c.ONLINE_HISTORY_TYPES,
    cap: c.ONLINE_HISTORY_CAP,
    historyTtlS: c.ONLINE_HISTORY_TTL_S,
  });
}
