import { PackWriter } from './pack-writer';

/** The MessagePack subset PackWriter writes, read back the way Redis's cmsgpack reads it. */
function unpack(buf: Buffer): (string | number)[] {
  expect(buf[0]).toBe(0xdd);
  const n = buf.readUInt32BE(1);
  const out: (string | number)[] = [];
  let at = 5;
  for (let i = 0; i < n; i++) {
    const tag = buf[at]!;
    if (tag < 0x80) {
      out.push(tag);
      at += 1;
    } else if (tag === 0xce) {
      out.push(buf.readUInt32BE(at + 1));
      at += 5;
    } else if (tag === 0xcb) {
      out.push(buf.readDoubleBE(at + 1));
      at += 9;
    } else if (tag === 0xdb) {
      const len = buf.readUInt32BE(at + 1);
      out.push(buf.toString('utf8', at + 5, at + 5 + len));
      at += 5 + len;
    } else throw new Error(`unexpected tag ${tag}`);
  }
  expect(at).toBe(buf.length);
  return out;
}

describe('PackWriter', () => {
  it('writes numbers and strings exactly, growing its buffer as needed', () => {
    const w = new PackWriter(16);
    const values = [
      0,
      127,
      128,
      0xffff_ffff,
      0x1_0000_0000,
      1_796_554_140_000,
      -1,
      2.5,
      0.1 + 0.2,
      '',
      'e-1:x',
      'p:agg:{item=i%2F1}:seen:item:',
      'caf\u00e9 \u{1f600}',
      'x'.repeat(100),
      '\u00e9'.repeat(70),
    ];
    for (const v of values) {
      if (typeof v === 'number') w.num(v);
      else w.str(v);
    }
    expect(w.length).toBe(values.length);
    expect(unpack(w.finish())).toEqual(values);
  });

  it('fills a reserved count in later', () => {
    const w = new PackWriter();
    w.str('a');
    const at = w.reserve();
    w.str('b');
    w.fill(at, 70_000);
    expect(unpack(w.finish())).toEqual(['a', 70_000, 'b']);
  });
});
