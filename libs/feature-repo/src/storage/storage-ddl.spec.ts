import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFeatureRepo, parseFeatureRepo } from '../load';
import { columnAccepts } from './column-types';
import { parseEnum8, storageDiff } from './storage-ddl';
import { storageTables } from './storage-layout';

const ROOT = join(__dirname, '..', '..', '..', '..');
const demo = loadFeatureRepo(join(ROOT, 'feature-repos', 'demo'));
const cols = (spec: string) =>
  spec.split(/, (?![^(]*\))/).map((c) => {
    const [name, ...type] = c.split(' ');
    return { name: name!, type: type.join(' ') };
  });

// The demo tables as migrations 0001 and 0002 create them (position is UInt16; items has content_hash).
const MIGRATED = new Map([
  [
    'events',
    cols(
      "event_id String, type Enum8('impression' = 1, 'click' = 2, 'conversion' = 3), ts_ms UInt64, " +
        'event_time DateTime, user_id String, item_id String, request_id String, position UInt16, ' +
        'device String, placement String, country String, value Float64, schema_version UInt8, ' +
        'ingested_at DateTime',
    ),
  ],
  [
    'items',
    cols(
      'item_id String, ts_ms UInt64, updated_at DateTime, title String, description String, ' +
        'category String, tags Array(String), image String, content_hash String, schema_version UInt8, ' +
        'ingested_at DateTime',
    ),
  ],
]);

describe('storage layout and DDL', () => {
  it('finds the migrated demo tables complete: nothing to run, nothing incompatible', () => {
    expect(storageDiff('db', storageTables(demo), MIGRATED)).toEqual({
      ddl: [],
      retype: [],
      breaking: [],
      incompatible: [],
    });
  });

  it('extends the event type Enum8 after its highest value, keeping every existing number', () => {
    const events = cols(
      "event_id String, type Enum8('click' = 2, 'impression' = 1, 'legacy' = 7), ts_ms UInt64",
    );
    const diff = storageDiff('db', storageTables(demo).slice(0, 1), new Map([['events', events]]));
    expect(diff.ddl.at(-1)).toBe(
      "ALTER TABLE db.events MODIFY COLUMN `type` Enum8('click' = 2, 'impression' = 1, 'legacy' = 7, 'conversion' = 8)",
    );
    expect(diff.ddl[0]).toBe('ALTER TABLE db.events ADD COLUMN `user_id` String');
    expect(diff.incompatible).toEqual([
      'table events, column event_time: core column DateTime is missing',
      'table events, column schema_version: core column UInt8 is missing',
      'table events, column ingested_at: core column DateTime is missing',
    ]);
  });

  it('parses Enum8 type texts and rejects others', () => {
    expect(parseEnum8("Enum8('a' = 1, 'it\\'s' = -3)")).toEqual([
      ['a', 1],
      ["it's", -3],
    ]);
    expect(parseEnum8('String')).toBeUndefined();
  });

  it.each([
    ['int', 'UInt16', true],
    ['int', 'Int64', true],
    ['int', 'Float64', false],
    ['float', 'Float32', true],
    ['string', 'LowCardinality(String)', true],
    ['string', 'FixedString(2)', true],
    ['bool', 'UInt8', true],
    ['bool', 'Int8', false],
    ['string_list', 'Array(String)', true],
    ['string_list', 'String', false],
  ] as const)('an %s attribute can use a %s column: %s', (type, actual, ok) => {
    expect(columnAccepts(type, actual)).toBe(ok);
  });

  it('names every column two declarations claim with different types', () => {
    const doc = JSON.parse(readFileSync(join(ROOT, 'feature-repos', 'demo', 'repo.json'), 'utf8')) as {
      event_types: { attributes: { name: string; type: string; default?: unknown }[] }[];
      entities: { attributes?: { name: string; type: string }[] }[];
    };
    const device = doc.event_types[1]!.attributes.find((a) => a.name === 'device')!;
    Object.assign(device, { type: 'int', default: 0 });
    doc.entities[1]!.attributes!.push({ name: 'updated_at', type: 'string' });
    expect(() => storageTables(parseFeatureRepo(doc, 'edited'))).toThrow(
      [
        'events.device: event_types.click.attributes.device (Int64) clashes with ' +
          'event_types.impression.attributes.device (String) in one column',
        'items.updated_at: entities.item.attributes.updated_at (String) clashes with core column (DateTime) in one column',
      ].join('\n  '),
    );
  });
});
