import { Readable } from 'node:stream';
import { MAX_MESSAGE_BYTES } from '@mmctr/contracts';
import { byteLines, checkLine } from './produce-lines';

const collect = async (chunks: Buffer[]): Promise<Buffer[]> => {
  const out: Buffer[] = [];
  for await (const line of byteLines(Readable.from(chunks))) out.push(Buffer.from(line));
  return out;
};

const item = (title: string) =>
  JSON.stringify({ schema_version: 1, item_id: 'i1', ts_ms: 1_767_225_600_000, title });

describe('byteLines', () => {
  it('splits on LF across chunk boundaries, drops a CR before LF and keeps every other byte', async () => {
    const bytes = Buffer.concat([Buffer.from('a\r\nb'), Buffer.from([0xff, 0xc3]), Buffer.from('\n\nlast')]);
    // Every split point, including one inside the two-byte sequence.
    for (let cut = 0; cut <= bytes.length; cut++) {
      const lines = await collect([bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(lines).toEqual([
        Buffer.from('a'),
        Buffer.concat([Buffer.from('b'), Buffer.from([0xff, 0xc3])]),
        Buffer.alloc(0),
        Buffer.from('last'),
      ]);
    }
  });
});

describe('checkLine', () => {
  it('accepts a valid item keyed by item_id, and an event keyed by user_id', () => {
    expect(checkLine('item', Buffer.from(item('😀')), true)).toEqual({ ok: true, key: 'i1' });
    const ev = {
      schema_version: 1,
      event_id: 'e1',
      type: 'click',
      ts_ms: 1_767_225_600_000,
      user_id: 'ü',
      item_id: 'i',
      request_id: 'r',
    };
    expect(checkLine('event', Buffer.from(JSON.stringify(ev)), true)).toEqual({ ok: true, key: 'ü' });
  });

  it('rejects a lone surrogate escape, naming the field', () => {
    expect(checkLine('item', Buffer.from(item('X').replace('"X"', '"\\ud800"')), true)).toEqual({
      ok: false,
      reason: 'schema: /title is not well-formed Unicode (lone surrogate)',
    });
  });

  it('rejects invalid UTF-8 bytes instead of reading them as U+FFFD', () => {
    const line = Buffer.from(item('ab'));
    line[line.indexOf('ab')] = 0xff;
    const r = checkLine('item', line, true);
    expect(!r.ok && r.reason).toMatch(/^invalid UTF-8 at byte \d+$/);
  });

  it('rejects a line over MAX_MESSAGE_BYTES', () => {
    const r = checkLine('item', Buffer.from(item('x'.repeat(MAX_MESSAGE_BYTES))), true);
    expect(!r.ok && r.reason).toMatch(/^oversized/);
  });

  it('without validation lets any line through, keyed only by a well-formed id', () => {
    expect(checkLine('item', Buffer.from([0xff]), false)).toEqual({ ok: true, key: null });
    expect(checkLine('item', Buffer.from('{"item_id":"\\udc00"}'), false)).toEqual({ ok: true, key: null });
    expect(checkLine('item', Buffer.from('{"item_id":"k"}'), false)).toEqual({ ok: true, key: 'k' });
    expect(checkLine('item', Buffer.from('not json'), false)).toEqual({ ok: true, key: null });
  });
});
