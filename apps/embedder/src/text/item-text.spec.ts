import { itemText, truncateIds } from './item-text';

describe('itemText', () => {
  it('joins title, description and tags, skipping empty parts', () => {
    expect(itemText({ title: 'Red dress', description: '', tags: ['summer', 'cotton'] })).toBe(
      'Red dress. summer, cotton',
    );
    expect(itemText({})).toBe('');
  });
});

describe('truncateIds', () => {
  it('keeps short sequences and ends long ones with [SEP]', () => {
    expect(truncateIds([101, 5, 102], 128, 102)).toEqual([101, 5, 102]);
    const long = [101, ...Array.from({ length: 200 }, (_, i) => i + 1000), 102];
    const cut = truncateIds(long, 128, 102);
    expect(cut).toHaveLength(128);
    expect(cut[0]).toBe(101);
    expect(cut[127]).toBe(102);
    expect(cut[126]).toBe(1125);
  });
});
