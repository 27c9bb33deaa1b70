import sharp from 'sharp';
import { sniffImageType } from './sniff';

describe('sniffImageType', () => {
  const solid = () => sharp({ create: { width: 4, height: 4, channels: 3, background: '#c04020' } });

  it('recognises real encoder outputs', async () => {
    expect(sniffImageType(await solid().png().toBuffer())).toBe('image/png');
    expect(sniffImageType(await solid().jpeg().toBuffer())).toBe('image/jpeg');
    expect(sniffImageType(await solid().webp().toBuffer())).toBe('image/webp');
    expect(sniffImageType(await solid().gif().toBuffer())).toBe('image/gif');
  });

  it('ignores names and headers: only bytes count', () => {
    expect(sniffImageType(Buffer.from('<html><body>not found</body></html>'))).toBeNull();
    expect(sniffImageType(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeNull();
    expect(sniffImageType(Buffer.from('RIFF\0\0\0\0WAVEfmt '))).toBeNull();
    expect(sniffImageType(new Uint8Array(0))).toBeNull();
    expect(sniffImageType(Uint8Array.of(0x89, 0x50, 0x4e))).toBeNull();
  });
});
