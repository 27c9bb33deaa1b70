import type { RowsDigest } from './item-catalog.repository';
import { WatermarkOverlap } from './watermark-overlap';

describe('WatermarkOverlap', () => {
  const digest = (rows: number, hash = String(rows)): RowsDigest => ({ rows, hash });
  const starts = (overlap: WatermarkOverlap, watermark: number, now: RowsDigest) =>
    overlap.readFrom(
      watermark,
      () => Promise.resolve(now),
      (start) => Promise.resolve(start),
    );

  it('reads the span before the watermark again only while its rows differ from their last count', async () => {
    const overlap = new WatermarkOverlap(10);
    expect(await starts(overlap, 0, digest(0))).toBe(0); // the first read: everything
    expect(await starts(overlap, 100, digest(5))).toBe(90); // a new watermark: its span once
    expect(await starts(overlap, 100, digest(5))).toBe(101); // as counted: only what follows it
    expect(await starts(overlap, 100, digest(6))).toBe(90); // a row stored late inside the span
    expect(await starts(overlap, 100, digest(6, 'other'))).toBe(90); // the same count, other versions
    expect(await starts(overlap, 100, digest(6, 'other'))).toBe(101);
  });

  it('asks for the span with both ends included, clamped at 0', async () => {
    const spans: [number, number][] = [];
    const overlap = new WatermarkOverlap(10);
    for (const watermark of [4, 50])
      await overlap.readFrom(
        watermark,
        (from, to) => (spans.push([from, to]), Promise.resolve(digest(1))),
        () => Promise.resolve(),
      );
    expect(spans).toEqual([
      [0, 4],
      [40, 50],
    ]);
  });

  it('keeps no count from a failed read, so the next refresh reads the span again', async () => {
    const overlap = new WatermarkOverlap(10);
    await starts(overlap, 100, digest(5));
    const failing = overlap.readFrom(
      200,
      () => Promise.resolve(digest(7)),
      () => Promise.reject(new Error('ClickHouse went away')),
    );
    await expect(failing).rejects.toThrow('ClickHouse went away');
    expect(await starts(overlap, 200, digest(7))).toBe(190);
    expect(await starts(overlap, 200, digest(7))).toBe(201);
  });
});
