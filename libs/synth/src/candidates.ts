// Candidate retrieval for a slate: popularity, the user's own topics, or uniform exploration, over
// the items already seen at the request time. Items are indexed by first-seen time, so "available
// at t" is a prefix that only grows as simulated time moves forward.
import type { ItemTable } from './items';
import { type Rng, searchCumulative } from './prng';
import { MAX_MAIN_TOPICS, type UserTable } from './users';

interface Ordered {
  items: Int32Array;
  firstSeen: Float64Array;
  cumWeight: Float64Array;
}

function ordered(items: ItemTable, subset: number[]): Ordered {
  subset.sort((a, b) => (items.firstSeenMs[a] as number) - (items.firstSeenMs[b] as number) || a - b);
  const o: Ordered = {
    items: Int32Array.from(subset),
    firstSeen: new Float64Array(subset.length),
    cumWeight: new Float64Array(subset.length),
  };
  let acc = 0;
  subset.forEach((i, j) => {
    o.firstSeen[j] = items.firstSeenMs[i] as number;
    o.cumWeight[j] = acc += items.popularityWeight[i] as number;
  });
  return o;
}

/** Static index, built once; each simulation run walks it with its own CandidateCursor. */
export class CandidateIndex {
  readonly all: Ordered;
  readonly byTopic: Ordered[];

  constructor(
    readonly items: ItemTable,
    topics: number,
  ) {
    const ids = Array.from({ length: items.count }, (_, i) => i);
    this.all = ordered(items, ids);
    this.byTopic = Array.from({ length: topics }, (_, k) =>
      ordered(
        items,
        ids.filter((i) => items.topic[i] === k),
      ),
    );
  }

  cursor(): CandidateCursor {
    return new CandidateCursor(this);
  }
}

export const SOURCE_POPULARITY = 0;
export const SOURCE_USER_TOPIC = 1;
export const SOURCE_EXPLORE = 2;

export class CandidateCursor {
  private available = 0;
  private readonly availableByTopic: Int32Array;

  constructor(private readonly index: CandidateIndex) {
    this.availableByTopic = new Int32Array(index.byTopic.length);
  }

  /** Moves the available prefixes forward to time t (calls must not go back in time). */
  advance(t: number): number {
    const all = this.index.all;
    while (this.available < all.items.length && (all.firstSeen[this.available] as number) <= t)
      this.available++;
    this.index.byTopic.forEach((o, k) => {
      let a = this.availableByTopic[k] as number;
      while (a < o.items.length && (o.firstSeen[a] as number) <= t) a++;
      this.availableByTopic[k] = a;
    });
    return this.available;
  }

  private popular(o: Ordered, n: number, rng: Rng): number {
    const total = o.cumWeight[n - 1] as number;
    return o.items[searchCumulative(o.cumWeight, n, rng.next() * total)] as number;
  }

  /** One candidate item index from the given source (falls back to popularity). */
  draw(source: number, users: UserTable, user: number, rng: Rng): number {
    const all = this.index.all;
    if (source === SOURCE_EXPLORE) return all.items[Math.floor(rng.next() * this.available)] as number;
    if (source === SOURCE_USER_TOPIC) {
      let u = rng.next();
      for (let j = 0; j < MAX_MAIN_TOPICS; j++) {
        const topic = users.mainTopics[user * MAX_MAIN_TOPICS + j] as number;
        if (topic < 0) break;
        u -= users.mainWeights[user * MAX_MAIN_TOPICS + j] as number;
        if (
          u < 0 ||
          j === MAX_MAIN_TOPICS - 1 ||
          (users.mainTopics[user * MAX_MAIN_TOPICS + j + 1] as number) < 0
        ) {
          const n = this.availableByTopic[topic] as number;
          if (n > 0) return this.popular(this.index.byTopic[topic] as Ordered, n, rng);
          break;
        }
      }
    }
    return this.popular(all, this.available, rng);
  }
}
