// Shared pieces of the ingest fuzz tests (the routing property test and the Kafka -> ClickHouse run):
// string arbitraries that reach every corner of Unicode, the UTF-8 oracle, and what a stored row must
// hold for a record.
import fc from 'fast-check';
import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';

/** Any UTF-16 units, lone surrogates included. */
export const anyUnits = (min: number, max: number) =>
  fc.string({
    unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    minLength: min,
    maxLength: max,
  });

const CORNERS = [
  '\u0000',
  'a\u0000b',
  '😀',
  'é😀🇩🇪',
  '\ud800',
  'x\udc00',
  '\ufeff',
  '\u2028',
  '\\"\n\t\u2028',
];

/** Strings: binary, graphemes of any plane, any units, and NUL / emoji / surrogate / separator corners. */
export const text = (min: number, max: number) =>
  fc.oneof(
    fc.string({ unit: 'binary', minLength: min, maxLength: max }),
    // A grapheme may be several code points; contracts bound code points, so the text must too.
    fc.string({ unit: 'grapheme', minLength: min, maxLength: max }).filter((s) => [...s].length <= max),
    anyUnits(min, max),
    fc.constantFrom(...CORNERS.filter((s) => s.length >= min && s.length <= max)),
  );

/** Invalid UTF-8 sequences to splice into valid bytes. */
export const invalidUtf8 = fc.constantFrom(
  [0x80],
  [0xff],
  [0xc3],
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
);

/** `bytes` with `bad` inserted at `at`. */
export const splice = (bytes: Buffer, at: number, bad: readonly number[]): Buffer =>
  Buffer.concat([bytes.subarray(0, at), Buffer.from(bad), bytes.subarray(at)]);

/** Survives UTF-8 unchanged (no lone surrogate): an oracle apart from the contracts' checks. */
export const utf8RoundTrips = (s: string): boolean => Buffer.from(s, 'utf8').toString('utf8') === s;

/** Every string of a JSON value, keys included. */
export const allStrings = (v: unknown): string[] =>
  typeof v === 'string'
    ? [v]
    : Array.isArray(v)
      ? v.flatMap(allStrings)
      : v !== null && typeof v === 'object'
        ? Object.entries(v).flatMap(([k, x]) => [k, ...allStrings(x)])
        : [];

/**
 * An event's fields other than `schema_version` and `event_id`, strings of random Unicode: `ts` draws
 * the timestamps, `idMax` caps the id lengths and `context` the device / placement / country lengths.
 */
export const eventFields = (
  ts: fc.Arbitrary<number>,
  idMax: number,
  [device, placement, country]: readonly [number, number, number],
) =>
  fc.record(
    {
      type: fc.constantFrom('impression' as const, 'click' as const, 'conversion' as const),
      ts_ms: ts,
      user_id: text(1, idMax),
      item_id: text(1, idMax),
      request_id: text(1, idMax),
      position: fc.integer({ min: 0, max: 10_000 }),
      context: fc.record(
        { device: text(0, device), placement: text(0, placement), country: text(0, country) },
        { requiredKeys: [] },
      ),
      value: fc.double({ min: 0, max: 1e9, noNaN: true }).filter((n) => !Object.is(n, -0)),
    },
    { requiredKeys: ['type', 'ts_ms', 'user_id', 'item_id', 'request_id'] },
  );

/**
 * An item's fields other than `schema_version`, strings of random Unicode: `ts` draws the timestamps and
 * `max` caps each string's length (an id of at least `idMin`, a title and each tag of at least one).
 */
export const itemFields = (
  ts: fc.Arbitrary<number>,
  max: { id: number; title: number; description: number; category: number; tag: number; image: number },
  idMin = 1,
) =>
  fc.record(
    {
      ts_ms: ts,
      item_id: text(idMin, max.id),
      title: text(1, max.title),
      description: text(0, max.description),
      category: text(0, max.category),
      tags: fc.array(text(1, max.tag), { maxLength: 5 }),
      image: text(0, max.image),
    },
    { requiredKeys: ['ts_ms', 'item_id', 'title'] },
  );

/** The fields of an events row for `e`: absent optionals as their column defaults, context flattened. */
export function expectedEventFields(e: BehaviourEvent) {
  const { context, schema_version: _version, ...fields } = e;
  return { position: 0, value: 0, device: '', placement: '', country: '', ...fields, ...context };
}

/** The fields of an items row for `i`: absent optionals as their column defaults. */
export function expectedItemFields(i: CatalogueItem) {
  const { schema_version: _version, ts_ms: _ts, ...fields } = i;
  return { description: '', category: '', tags: [] as string[], image: '', ...fields };
}
