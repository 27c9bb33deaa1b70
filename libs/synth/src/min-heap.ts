/** Binary min-heap ordered by (ts, seq): delayed clicks and conversions wait here until due. */
export interface Timed {
  ts: number;
  seq: number;
}

export class MinHeap<T extends Timed> {
  private readonly data: T[] = [];

  get size(): number {
    return this.data.length;
  }

  peek(): T | undefined {
    return this.data[0];
  }

  private less(a: T, b: T): boolean {
    return a.ts < b.ts || (a.ts === b.ts && a.seq < b.seq);
  }

  push(value: T): void {
    const d = this.data;
    d.push(value);
    let i = d.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(d[i] as T, d[parent] as T)) break;
      [d[i], d[parent]] = [d[parent] as T, d[i] as T];
      i = parent;
    }
  }

  pop(): T | undefined {
    const d = this.data;
    const top = d[0];
    const last = d.pop();
    if (d.length > 0 && last !== undefined) {
      d[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < d.length && this.less(d[l] as T, d[m] as T)) m = l;
        if (r < d.length && this.less(d[r] as T, d[m] as T)) m = r;
        if (m === i) break;
        [d[i], d[m]] = [d[m] as T, d[i] as T];
        i = m;
      }
    }
    return top;
  }
}
