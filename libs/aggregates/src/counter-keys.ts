/**
 * Redis key names of the online counters (docs/features.md, "Online counters"): ingest writes them and
 * both readers (AggregateCounters.values, AggregateWindowReader) read them through these functions only.
 *
 * Every key of a key value carries the hash tag of the key's FIRST part (`{user=u1}`): the entity the
 * event itself carries, never a looked-up attribute. So the counters of `user+item.category=u1,books`,
 * those of `u1,toys` and the redelivery markers of user u1 share one Redis Cluster slot, and one script
 * call can check an event's marker and increment its counters atomically whatever category the item has
 * when the event is (re)delivered. Values are URI-encoded: `{`, `}`, `,` and `:` in a value cannot end
 * the tag early, run two values together or look like a separator. Declarations are names
 * (`[a-z0-9_.]`) joined by `+`.
 */

/** `<prefix>agg:{<first entity>=<first value>}`: the hash tag shared by every key of that first part. */
function keyTag(prefix: string, spec: string, first: string): string {
  return `${prefix}agg:{${spec.split('+')[0]!}=${encodeURIComponent(first)}}`;
}

/**
 * The stem of a key value's counter hashes, `<tag>:<spec>=<values>`
 * (`p:agg:{user=u1}:user+item.category=u1,books`): `counterKey` appends the bucket, and the window
 * reader's script appends the same suffix on the server.
 */
export function counterGroup(prefix: string, spec: string, values: readonly string[]): string {
  if (values.length === 0) throw new Error(`a key value of '${spec}' needs at least one element`);
  return `${keyTag(prefix, spec, values[0]!)}:${spec}=${values.map(encodeURIComponent).join(',')}`;
}

/** The hash of one bucket of a key value, `<counter group>:<bucket ms>:<start>`: a field per aggregation. */
export const counterKey = (group: string, bucketMs: number, startMs: number): string =>
  `${group}:${bucketMs}:${startMs}`;

/**
 * The stem of the redelivery markers of a key declaration's events with one first part,
 * `<tag>:seen:<spec>`: found again whatever key value a looked-up attribute maps the event to now.
 */
export const markerSet = (prefix: string, spec: string, first: string): string =>
  `${keyTag(prefix, spec, first)}:seen:${spec}`;

/** The marker set of one marker bucket: `<marker set>:<bucket start>`. */
export const markerKey = (set: string, startMs: number): string => `${set}:${startMs}`;
