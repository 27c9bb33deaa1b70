import { chunkRows, type PartitionChunk } from './chunk';

const chunk = (topic: string, partition: number, first: string, last: string, generation = 1) =>
  ({
    topic,
    partition,
    firstOffset: first,
    lastOffset: last,
    generation,
    valid: [],
    validOffsets: [],
    invalid: [],
  }) as PartitionChunk<unknown>;

describe('chunkRows', () => {
  it('weighs a chunk by its messages, at least 1', () => {
    expect(chunkRows({ ...chunk('a', 0, '0', '0'), valid: [1, 2], invalid: [{} as never] })).toBe(3);
    expect(chunkRows(chunk('a', 0, '0', '0'))).toBe(1);
  });
});
