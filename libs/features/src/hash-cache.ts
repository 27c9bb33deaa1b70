import { bucket } from './hash';

/** Memoises bucket() per field and value: values repeat a lot in a request. */
export class Hasher {
  private readonly cache = new Map<string, number>();
  constructor(private readonly maxEntries = 200_000) {}

  bucket(field: string, value: string | null | undefined, buckets: number): number {
    if (value === undefined || value === null || value === '') return 0;
    const key = `${buckets}\x1f${field}\x1f${value}`;
    let v = this.cache.get(key);
    if (v === undefined) {
      v = bucket(field, value, buckets);
      if (this.cache.size >= this.maxEntries) this.cache.clear();
      this.cache.set(key, v);
    }
    return v;
  }
}
