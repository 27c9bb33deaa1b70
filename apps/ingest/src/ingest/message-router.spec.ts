import { MAX_MESSAGE_BYTES } from '@mmctr/contracts';
import {
  DEFAULT_FEATURE_REPO_PATH,
  compileEntityContract,
  compileEventContract,
  loadFeatureRepo,
} from '@mmctr/feature-repo';
import { routeMessages } from './message-router';

const demo = loadFeatureRepo(DEFAULT_FEATURE_REPO_PATH);
const events = compileEventContract(demo).check;
const items = compileEntityContract(demo, 'item').check;

const event = {
  schema_version: 1,
  event_id: 'e1',
  type: 'click',
  ts_ms: 1_767_225_600_000,
  user_id: 'u1',
  item_id: 'i1',
  request_id: 'r1',
};
const msg = (offset: number, value: Buffer | string | null, key: string | null = 'u1') => ({
  offset: String(offset),
  key: key === null ? null : Buffer.from(key),
  value: value === null ? null : Buffer.isBuffer(value) ? value : Buffer.from(value),
});

describe('routeMessages (dead-letter routing)', () => {
  it('keeps valid records and routes every other message with its reason and origin', () => {
    const { ts_ms: _omit, ...missing } = event;
    const messages = [
      msg(10, JSON.stringify(event)),
      msg(11, '{"event_id": '),
      msg(12, JSON.stringify(missing)),
      msg(13, JSON.stringify({ ...event, event_id: 'e2', position: 'first' })),
      msg(14, Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x20)),
      msg(15, null, null),
      msg(16, JSON.stringify({ ...event, event_id: 'e3' })),
    ];
    const { valid, invalid } = routeMessages(events, 'events', 2, messages);
    expect(valid.map((e) => e.event_id)).toEqual(['e1', 'e3']);
    expect(invalid.map((d) => [d.offset, d.reason.split(':')[0]])).toEqual([
      ['11', 'bad JSON'],
      ['12', 'schema'],
      ['13', 'schema'],
      ['14', 'oversized'],
      ['15', 'empty message'],
    ]);
    expect(invalid[1]!.reason).toBe("schema: missing required field 'ts_ms'");
    expect(invalid[2]!.reason).toBe(`schema: attribute 'position': expected int, got string "first"`);
    expect(invalid.every((d) => d.topic === 'events' && d.partition === 2)).toBe(true);
    expect(invalid[0]!.value!.toString()).toBe('{"event_id": ');
  });

  it('normalises valid events: context flattened, defaults filled', () => {
    const { valid } = routeMessages(events, 'events', 0, [
      msg(0, JSON.stringify({ ...event, context: { device: 'tv' }, country: 'DE' })),
    ]);
    expect(valid).toEqual([{ ...event, position: 0, device: 'tv', placement: '', country: 'DE', value: 0 }]);
  });

  it('validates items against the item contract', () => {
    const item = { schema_version: 1, item_id: 'i1', ts_ms: 1_767_225_600_000, title: 't' };
    const { valid, invalid } = routeMessages(items, 'items', 0, [
      msg(0, JSON.stringify(item)),
      msg(1, JSON.stringify(event)),
    ]);
    expect(valid).toEqual([{ ...item, description: '', category: '', tags: [], image: '' }]);
    expect(invalid).toHaveLength(1);
  });
});
