// The catalogue: latent topic, popularity and first-seen time per item, plus its text.
import { type CatalogueItem, SCHEMA_VERSION } from '@mmctr/contracts';
import { DAY_MS, type Periods, type SynthConfig } from './config';
import { entityTable, type EntityTable } from './entity-table';
import { Rng } from './prng';
import { itemText } from './text';
import { TOPICS_PER_CATEGORY } from './vocabulary';

/** Struct of arrays: the simulation reads these in its inner loop. */
export interface ItemTable extends EntityTable {
  topic: Int32Array;
  category: Int32Array;
  /** Standardised log-popularity z ~ N(0, 1); sampling weight exp(sigma * z). */
  popularityZ: Float64Array;
  popularityWeight: Float64Array;
  firstSeenMs: Float64Array;
  coldStart: Uint8Array;
  /** 1 where the item's tags name its topic (else only its text and image carry it). */
  topicTagged: Uint8Array;
  /** Seed of each item's image stream. */
  imageSeed: Uint32Array;
  catalogue: CatalogueItem[];
}

export const itemId = (i: number): string => `item-${String(i + 1).padStart(6, '0')}`;

export function generateItems(
  cfg: SynthConfig,
  periods: Periods,
  rng: Rng,
  imagePath: (id: string) => string,
): ItemTable {
  const n = cfg.items.count;
  const k = cfg.items.topics;
  const ic = cfg.items;
  const topicWeights = Array.from({ length: k }, () => Math.exp(ic.topicSizeSigma * rng.normal()));

  const table: ItemTable = entityTable(n, itemId, {
    topic: new Int32Array(n),
    category: new Int32Array(n),
    popularityZ: new Float64Array(n),
    popularityWeight: new Float64Array(n),
    firstSeenMs: new Float64Array(n),
    coldStart: new Uint8Array(n),
    topicTagged: new Uint8Array(n),
    imageSeed: new Uint32Array(n),
    catalogue: [],
  });

  // Cold-start items: an exact share, picked at random.
  const coldCount = Math.round(ic.coldStartShare * n);
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  for (let j = 0; j < coldCount; j++) table.coldStart[order[j] as number] = 1;

  const textRng = rng.fork('text');
  for (let i = 0; i < n; i++) {
    // The first k items cover every topic once; the rest follow the topic sizes.
    const topic = i < k ? i : rng.weighted(topicWeights);
    table.topic[i] = topic;
    table.category[i] = Math.floor(topic / TOPICS_PER_CATEGORY);
    const z = rng.normal();
    table.popularityZ[i] = z;
    table.popularityWeight[i] = Math.exp(ic.popularitySigma * z);
    let seen: number;
    if (table.coldStart[i]) seen = periods.testStartMs + rng.uniform(0, ic.coldStartSpreadHours * 3_600_000);
    else if (rng.bernoulli(ic.lateArrivalShare)) seen = rng.uniform(periods.startMs, periods.testStartMs);
    else seen = periods.startMs - rng.uniform(0, ic.preexistingDays * DAY_MS);
    table.firstSeenMs[i] = Math.floor(seen);
    table.imageSeed[i] = rng.nextU32();

    const id = table.ids[i] as string;
    const topicTagged = textRng.bernoulli(ic.topicTagShare);
    table.topicTagged[i] = topicTagged ? 1 : 0;
    const text = itemText(topic, k, ic.offTopicWordRate, textRng, topicTagged);
    table.catalogue.push({
      schema_version: SCHEMA_VERSION,
      item_id: id,
      ts_ms: table.firstSeenMs[i] as number,
      title: text.title,
      description: text.description,
      category: text.category,
      tags: text.tags,
      image: imagePath(id),
    });
  }
  return table;
}
