/** What every struct-of-arrays entity table starts with: its size and the entities' ids by index. */
export interface EntityTable {
  count: number;
  ids: string[];
}

/** The table of `n` entities with ids `id(0)`, `id(1)`, … and the given columns. */
export function entityTable<C extends object>(
  n: number,
  id: (i: number) => string,
  columns: C,
): EntityTable & C {
  return { count: n, ids: Array.from({ length: n }, (_, i) => id(i)), ...columns };
}
