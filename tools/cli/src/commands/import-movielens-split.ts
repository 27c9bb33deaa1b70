/** One part of a time split: how many ratings and the first and last timestamp (Unix seconds). */
export interface SplitPart {
  count: number;
  fromS: number | null;
  toS: number | null;
}

export interface TimeSplit<T> {
  train: T[];
  valid: T[];
  test: T[];
}

/** Ratings in global time order; equal timestamps keep u.data's line order, so the order is total. */
export function byTime<T extends { tsS: number; line: number }>(ratings: readonly T[]): T[] {
  return [...ratings].sort((a, b) => a.tsS - b.tsS || a.line - b.line);
}

/**
 * The split rule of the MovieLens benchmarks: ratings ordered globally by time, the first 80 %
 * (rounded down) train, the next 10 % (rounded down) validation, the rest test. A timestamp shared
 * across a boundary is split by line order, like any other tie.
 */
export function splitByTime<T extends { tsS: number; line: number }>(ratings: readonly T[]): TimeSplit<T> {
  const ordered = byTime(ratings);
  const trainEnd = Math.floor(ordered.length * 0.8);
  const validEnd = trainEnd + Math.floor(ordered.length * 0.1);
  return {
    train: ordered.slice(0, trainEnd),
    valid: ordered.slice(trainEnd, validEnd),
    test: ordered.slice(validEnd),
  };
}

export function describePart(part: readonly { tsS: number }[]): SplitPart {
  return { count: part.length, fromS: part[0]?.tsS ?? null, toS: part.at(-1)?.tsS ?? null };
}
