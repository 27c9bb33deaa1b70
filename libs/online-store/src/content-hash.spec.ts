import { contentHash, embeddingJobId } from './content-hash';

const item = {
  title: 'Red shoes',
  description: 'd',
  category: 'shoes',
  tags: ['red', 'sale'],
  image: 'file:///a.jpg',
};

describe('content hash and embedding job id', () => {
  it('is stable and ignores fields outside the content', () => {
    expect(contentHash(item)).toBe(contentHash({ ...item }));
    expect(contentHash(item)).toMatch(/^[0-9a-f]{64}$/);
    expect(contentHash({ ...item, ts_ms: 1 } as typeof item)).toBe(contentHash(item));
  });

  it('changes when any content field changes', () => {
    const variants = [
      { ...item, title: 'Red shoe' },
      { ...item, description: 'e' },
      { ...item, category: 'boots' },
      { ...item, tags: ['sale', 'red'] },
      { ...item, image: 'file:///b.jpg' },
    ];
    const hashes = new Set([contentHash(item), ...variants.map(contentHash)]);
    expect(hashes.size).toBe(6);
  });

  it('treats absent and empty optional fields alike and cannot be fooled by separators', () => {
    expect(contentHash({ title: 't' })).toBe(
      contentHash({ title: 't', description: '', tags: [], image: '' }),
    );
    expect(contentHash({ title: 'a', description: 'b' })).not.toBe(
      contentHash({ title: 'a","b', description: '' }),
    );
  });

  it('derives a job id without ":" that is the same for the same item and content', () => {
    const h = contentHash(item);
    const id = embeddingJobId('shop:42', h);
    expect(id).not.toContain(':');
    expect(id).toBe(embeddingJobId('shop:42', h));
    expect(id).not.toBe(embeddingJobId('shop:43', h));
    expect(id).not.toBe(embeddingJobId('shop:42', contentHash({ ...item, title: 'x' })));
    // The hash is fixed-length hex at the end, so the item part is unambiguous.
    expect(id).toBe(`item-shop%3A42-${h}`);
  });
});
