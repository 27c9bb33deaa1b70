import type { RowsDigest } from './item-catalog.repository';

/**
 * Where a refresh starts reading by a watermark (ingested_at, created_ms). A row can become visible
 * after rows with a later watermark value (a slower insert, another writer's batch or clock), so each
 * refresh looks back over `span` before the watermark; it reads that span again only when its rows
 * changed since they were last counted. The count comes before the read, so a row stored during a read
 * changes the next count; it is kept only once the read succeeded (`read`).
 */
export class WatermarkOverlap {
  private counted: (RowsDigest & { from: number; to: number }) | undefined;

  constructor(private readonly span: number) {}

  /**
   * Counts the span before `watermark` (`count`, both ends included), runs `read` from the first value to
   * read again (the span's start, or just after the watermark when the span is as last counted), and
   * keeps the count when `read` resolves.
   */
  async readFrom<T>(
    watermark: number,
    count: (from: number, to: number) => Promise<RowsDigest>,
    read: (start: number) => Promise<T>,
  ): Promise<T> {
    const from = Math.max(0, watermark - this.span);
    const now = await count(from, watermark);
    const last = this.counted;
    const unchanged =
      last?.from === from && last.to === watermark && last.rows === now.rows && last.hash === now.hash;
    const result = await read(unchanged ? watermark + 1 : from);
    this.counted = { from, to: watermark, ...now };
    return result;
  }
}
