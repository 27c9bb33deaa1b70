// Fuzz acceptance test of apps/ingest against the real Kafka and ClickHouse 18.16: a few thousand random
// messages (random bytes, random JSON, corrupted UTF-8, events and items whose strings are random Unicode
// with NUL, emoji and lone surrogates) go to isolated topics, followed by ordinary events. Every message
// must end up either stored exactly as sent (strings compared) or in the DLQ with a reason and its
// original bytes, and ingestion must not stall (the later events are stored).
import fc from 'fast-check';
import { DLQ_HEADERS, type BehaviourEvent, type CatalogueItem } from '@mmctr/contracts';
import * as fuzz from '../../support/ingest/fuzz';
import { readTopic } from '../../support/ingest/read-topic';
import { ingestSuite } from '../../support/ingest/suite';

jest.setTimeout(600_000);

/** How many messages of each kind are sent: fuzzed events and items, junk, then ordinary events. */
const SENT = { fuzzEvents: 2_000, fuzzItems: 400, junk: 1_200, laterValid: 300 };

describe('ingest fuzz (random bytes, JSON and Unicode through Kafka -> ClickHouse / DLQ)', () => {
  const suite = ingestSuite();

  it('stores each message exactly as given or dead-letters it with a reason, and keeps going', async () => {
    const names = await suite.names('ingest-fuzz');
    const kafka = suite.kafka();
    const clickhouse = suite.clickhouse();
    const p = names.prefix;
    // One day of timestamps: the strings are what is fuzzed here, and timestamps spread over a century
    // would leave a daily partition each in the shared test database.
    const ts = fc.integer({ min: 1_767_225_600_000, max: 1_767_311_999_999 });
    const events = fc
      .sample(fuzz.eventFields(ts, 40, [12, 20, 3]), { numRuns: SENT.fuzzEvents, seed: 42 })
      .map((e, i): BehaviourEvent => ({ schema_version: 1, event_id: `${p}e${i}`, ...e }));
    const itemArb = fuzz.itemFields(
      ts,
      { id: 20, title: 100, description: 200, category: 20, tag: 20, image: 60 },
      0,
    );
    const items = fc
      .sample(itemArb, { numRuns: SENT.fuzzItems, seed: 43 })
      .map(({ item_id: id, ...rest }, i): CatalogueItem => ({
        schema_version: 1,
        item_id: `${p}i${i}:${id}`,
        ...rest,
      }));
    const template = JSON.stringify(events[0]);
    const junk = fc.sample(
      fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 200 }).map((a) => Buffer.from(a)),
        fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v))),
        // A valid event with invalid UTF-8 spliced in somewhere.
        fc
          .tuple(fc.nat(template.length), fuzz.invalidUtf8)
          .map(([at, bad]) => fuzz.splice(Buffer.from(template), at, bad)),
      ),
      { numRuns: SENT.junk, seed: 44 },
    );
    const later = Array.from({ length: SENT.laterValid }, (_, i): BehaviourEvent => ({
      schema_version: 1,
      event_id: `${p}later${i}`,
      type: 'click',
      ts_ms: 1_767_225_600_000 + i,
      user_id: `${p}u${i % 7}`,
      item_id: `i${i}`,
      request_id: `r${i}`,
    }));

    // Raw bytes, as a foreign producer would write them (the SDK would refuse the bad ones).
    const producer = suite.producer(names);
    const eventValues = [...events.map((e) => Buffer.from(JSON.stringify(e))), ...junk];
    await producer.sendRaw(
      names.env.KAFKA_TOPIC_EVENTS,
      eventValues.map((value) => ({ key: null, value })),
    );
    await producer.sendRaw(
      names.env.KAFKA_TOPIC_ITEMS,
      items.map((i) => ({ key: null, value: Buffer.from(JSON.stringify(i)) })),
    );
    await producer.sendEvents(later);

    const goodEvents = [...events.filter((e) => fuzz.allStrings(e).every(fuzz.utf8RoundTrips)), ...later];
    const goodItems = items.filter((i) => fuzz.allStrings(i).every(fuzz.utf8RoundTrips));
    const deadLetters =
      eventValues.length + items.length + later.length - goodEvents.length - goodItems.length;
    // The generators must exercise both outcomes.
    expect(goodEvents.length).toBeGreaterThan(SENT.laterValid + SENT.fuzzEvents / 4);
    expect(goodEvents.length).toBeLessThan(SENT.laterValid + SENT.fuzzEvents);
    // ... and store NUL and 4-byte UTF-8 (emoji, astral planes) in String columns of both tables.
    for (const good of [goodEvents, goodItems]) {
      expect(good.some((r) => fuzz.allStrings(r).some((s) => s.includes('\u0000')))).toBe(true);
      expect(good.some((r) => fuzz.allStrings(r).some((s) => /[\u{10000}-\u{10ffff}]/u.test(s)))).toBe(true);
    }

    const ingest = await suite.startIngest(names);
    const count = async (table: string, column: string): Promise<number> => {
      const [row] = await clickhouse.query<{ n: string }>(
        `SELECT uniqExact(${column}) AS n FROM ${table} WHERE substring(${column}, 1, {n:UInt32}) = {p:String}`,
        { n: Buffer.byteLength(p), p },
      );
      return Number(row?.n ?? 0);
    };
    await ingest.waitFor(
      async () =>
        (await count('events', 'event_id')) >= goodEvents.length &&
        (await count('items', 'item_id')) >= goodItems.length,
      'the valid events and items stored',
      300_000,
    );

    // ClickHouse holds exactly the well-formed events, every string as sent (NUL and emoji included).
    const stored = await clickhouse.query<Record<string, string | number>>(
      `SELECT event_id, type, user_id, item_id, request_id, device, placement, country, position, value,
              toString(ts_ms) AS ts_ms
       FROM events WHERE substring(event_id, 1, {n:UInt32}) = {p:String}`,
      { n: Buffer.byteLength(p), p },
    );
    const byId = new Map(stored.map((r) => [r.event_id as string, r]));
    expect([...byId.keys()].sort()).toEqual(goodEvents.map((e) => e.event_id).sort());
    for (const e of goodEvents) {
      // 64-bit integers come back as strings.
      expect(byId.get(e.event_id)).toEqual({ ...fuzz.expectedEventFields(e), ts_ms: String(e.ts_ms) });
    }
    const storedItems = await clickhouse.query<Record<string, unknown>>(
      `SELECT item_id, title, description, category, tags, image
       FROM items WHERE substring(item_id, 1, {n:UInt32}) = {p:String}`,
      { n: Buffer.byteLength(p), p },
    );
    const itemsById = new Map(storedItems.map((r) => [r.item_id as string, r]));
    expect([...itemsById.keys()].sort()).toEqual(goodItems.map((i) => i.item_id).sort());
    for (const i of goodItems) {
      expect(itemsById.get(i.item_id)).toEqual(fuzz.expectedItemFields(i));
    }

    // Every other message is in the DLQ once, with a reason and its original bytes.
    const sources = new Map<string, Buffer>();
    for (const [topic, n] of [
      [names.env.KAFKA_TOPIC_EVENTS, eventValues.length + later.length],
      [names.env.KAFKA_TOPIC_ITEMS, items.length],
    ] as const)
      for (const m of await readTopic(kafka, topic, n, 180_000))
        sources.set(`${topic}/${m.partition}/${m.offset}`, m.raw);
    const letters = await readTopic(kafka, names.env.KAFKA_TOPIC_DLQ, deadLetters, 180_000);
    expect(letters).toHaveLength(deadLetters);
    const seen = new Set<string>();
    for (const l of letters) {
      const h = (k: string) => l.headers[k] ?? '';
      const origin = `${h(DLQ_HEADERS.topic)}/${h(DLQ_HEADERS.partition)}/${h(DLQ_HEADERS.offset)}`;
      expect(sources.has(origin)).toBe(true);
      expect(seen.has(origin)).toBe(false);
      seen.add(origin);
      expect(l.raw.equals(sources.get(origin)!)).toBe(true);
      expect(h(DLQ_HEADERS.reason)).toMatch(
        /^(invalid UTF-8 at byte \d+|bad JSON: .+|schema: .+|empty message)$/s,
      );
    }
    // A lone surrogate is named as such, not reported as something else.
    const reasons = letters.map((l) => l.headers[DLQ_HEADERS.reason]!);
    expect(reasons.some((r) => /is not well-formed Unicode \(lone surrogate\)$/.test(r))).toBe(true);
    expect(reasons.some((r) => r.startsWith('invalid UTF-8 at byte '))).toBe(true);
  });
});
