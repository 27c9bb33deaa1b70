import fc from 'fast-check';
import { decode, decodeWith, type ContractName } from '@mmctr/contracts';
import { loadFeatureRepo } from '../load';
import { DEFAULT_FEATURE_REPO_PATH } from '../feature-repo.module';
import { eventFields, text } from '../../../../test/support/ingest/fuzz';
import { DEMO_IMPRESSION, DEMO_ITEM } from '../../../../test/support/demo-records';
import { compileEntityContract } from './entity-contract';
import { compileEventContract } from './event-contract';

// The compiled demo contract must accept exactly what libs/contracts' JSON Schemas accept: the same
// bytes go through decode() (ajv) and decodeWith(compiled contract), and both must agree.

const demo = loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH);
const compiled = {
  event: compileEventContract(demo).check,
  item: compileEntityContract(demo, 'item').check,
};

function agree(name: Exclude<ContractName, 'scoreLog'>, value: unknown): void {
  const raw = Buffer.from(JSON.stringify(value) ?? 'null');
  const schema = decode(name, raw);
  const contract = decodeWith(raw, compiled[name]);
  if (schema.ok !== contract.ok)
    throw new Error(
      `${name} ${raw.toString()}: JSON Schema ${schema.ok ? 'accepts' : `rejects (${schema.reason})`}, contract ${contract.ok ? 'accepts' : `rejects (${contract.reason})`}`,
    );
}

const event = DEMO_IMPRESSION;
const item = DEMO_ITEM;

// Values at and around every bound the demo contract has, and every JSON type.
const PROBES: unknown[] = [
  undefined,
  null,
  true,
  false,
  0,
  -1,
  1.5,
  10_000,
  10_001,
  1e9,
  1e9 + 1,
  946_684_799_999,
  946_684_800_000,
  4_102_444_800_000,
  4_102_444_800_001,
  2 ** 53,
  1e300,
  -0,
  '',
  'x',
  'has space',
  'a|b',
  'é😀',
  'x'.repeat(8),
  'x'.repeat(9),
  'x'.repeat(32),
  'x'.repeat(33),
  'x'.repeat(64),
  'x'.repeat(65),
  'x'.repeat(128),
  'x'.repeat(129),
  '😀'.repeat(64),
  '😀'.repeat(65),
  'impression',
  'view',
  [],
  [''],
  ['a'],
  ['a', 'b', 'c', 'd', 'e'],
  ['a', 'b', 'c', 'd', 'e', 'f'],
  ['x'.repeat(65)],
  [1],
  {},
  { device: 'x' },
  { device: 1 },
  { other: 'x' },
  { country: 'x'.repeat(9) },
];

const EVENT_PATHS = [
  ...Object.keys(event),
  'value',
  'device',
  'placement',
  'country',
  'extra',
  'constructor',
  '__proto__',
  'context.device',
  'context.placement',
  'context.country',
  'context.position',
  'context.extra',
];
const ITEM_PATHS = [...Object.keys(item), 'description', 'category', 'image', 'extra', 'tags.0', 'tags.5'];

/** A copy of `base` with `path` (a.b) set to `v` (or deleted when undefined). */
function mutate(base: Record<string, unknown>, path: string, v: unknown): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
  const [head, tail] = path.split('.') as [string, string | undefined];
  let target = copy;
  if (tail !== undefined) {
    const inner = copy[head];
    target = (inner !== null && typeof inner === 'object' ? inner : (copy[head] = {})) as Record<
      string,
      unknown
    >;
  }
  const key = tail ?? head;
  if (v === undefined) delete target[key];
  else Object.defineProperty(target, key, { value: v, enumerable: true, writable: true, configurable: true });
  return copy;
}

describe('the compiled demo contract accepts exactly what the JSON Schemas accept', () => {
  it('on the contracts spec cases', () => {
    agree('event', event);
    agree('item', item);
    for (const bad of [
      { ...event, type: 'view' },
      { ...event, ts_ms: '1' },
      { ...event, user_id: undefined },
      { ...event, extra: 1 },
      { ...event, schema_version: 2 },
      { ...event, event_id: 'has space' },
      { ...event, user_id: 'u😀\u0000', context: { country: '🇩🇪' } },
      { ...event, context: { device: 'x\udbff' } },
      { ...item, title: '\ud800' },
    ])
      agree('event', bad);
  });

  it('on every field set to every probe value', () => {
    for (const path of EVENT_PATHS) for (const v of PROBES) agree('event', mutate(event, path, v));
    for (const path of ITEM_PATHS) for (const v of PROBES) agree('item', mutate(item, path, v));
    for (const v of PROBES) {
      agree('event', v);
      agree('item', v);
    }
  });

  it('on the ingest fuzz corpus (random Unicode fields, random top-level or nested context)', () => {
    const ts = fc.oneof(fc.integer({ min: 946_684_700_000, max: 4_102_444_900_000 }), fc.constant(0));
    fc.assert(
      fc.property(eventFields(ts, 140, [40, 70, 10]), fc.boolean(), (fields, flatten) => {
        const e: Record<string, unknown> = { schema_version: 1, event_id: 'e.1', ...fields };
        if (flatten && fields.context) {
          delete e.context;
          Object.assign(e, fields.context);
        }
        agree('event', e);
      }),
      { numRuns: 2000 },
    );
    const itemArb = fc.record(
      {
        item_id: text(0, 140),
        ts_ms: ts,
        title: text(0, 520),
        description: text(0, 20),
        category: text(0, 70),
        tags: fc.array(text(0, 70), { maxLength: 7 }),
        image: text(0, 20),
      },
      { requiredKeys: ['item_id', 'ts_ms'] },
    );
    fc.assert(
      fc.property(itemArb, (i) => agree('item', { schema_version: 1, ...i })),
      { numRuns: 2000 },
    );
  });
});
