import { join } from 'node:path';
import { REPO_ROOT } from '../testing/harness';
import type { TextRuns } from './encoders';
import { InferencePool } from './inference-pool';
import { readModelSet } from './model-manifest';

// The real encoders (scripts/setup-models.sh), in the pool's worker thread as the service runs them. The
// int8 text encoder quantizes each run's activations over the whole run, so how texts are grouped into
// runs decides whether their vectors depend on each other.
const TEXTS = [
  'Toy Story (1995)',
  'Heat (1995). A crime saga in Los Angeles',
  'GoldenEye',
  'Amélie. 日本, film',
];

describe('text encoder runs (EMBEDDER_TEXT_RUNS)', () => {
  const pools = new Map<TextRuns, InferencePool>();

  beforeAll(async () => {
    const models = readModelSet(join(REPO_ROOT, '.cache', 'models'));
    for (const textRuns of ['per-text', 'batched'] as const)
      pools.set(
        textRuns,
        await InferencePool.start(models, {
          threads: 1,
          intraOpThreads: 1,
          textRuns,
          maxBatch: 16,
          maxWaitMs: 50,
        }),
      );
  });
  afterAll(async () => {
    for (const p of pools.values()) await p.close();
  });

  /** Each text in a batch of its own (asked once the previous one is answered). */
  async function alone(runs: TextRuns, texts: readonly string[] = TEXTS): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const t of texts) out.push(await pools.get(runs)!.text(t));
    return out;
  }
  /** The texts asked at once: one batch. */
  const together = (runs: TextRuns, texts: readonly string[] = TEXTS) =>
    Promise.all(texts.map((t) => pools.get(runs)!.text(t)));

  it('per-text: a text gets the same vector alone as batched with any others', async () => {
    const single = await alone('per-text');
    expect(await together('per-text')).toEqual(single);
    expect((await together('per-text', [...TEXTS].reverse())).reverse()).toEqual(single);
    for (const v of single) expect(v).toHaveLength(384);
  });

  it('batched: a text batched with others gets another vector than alone (what per-text avoids)', async () => {
    const single = await alone('batched');
    expect(single).toEqual(await alone('per-text'));
    const batch = await together('batched');
    expect(batch.filter((v, i) => v.some((x, j) => x !== single[i]![j])).length).toBeGreaterThan(0);
  });
});
