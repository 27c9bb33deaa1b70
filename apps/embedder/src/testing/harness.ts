// Helpers for the embedder's integration tests (real Redis, ClickHouse and models).
import { join } from 'node:path';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import type { ClickHouseService } from '@mmctr/clickhouse';
import type { CatalogueItem } from '@mmctr/contracts';
import { itemFeatures, type ItemFeatures } from '@mmctr/online-store';

export const REPO_ROOT = join(__dirname, '..', '..', '..', '..');

export { readJsonl } from '@mmctr/synth';

/**
 * Env of one isolated run: its own queue, Redis key prefix and projection directory, and the directory
 * its local images lie under (local files are refused unless EMBEDDER_IMAGE_FILE_ROOTS names one).
 */
export function runEnv(run: string, projectionsDir: string, imageRoot: string) {
  return {
    EMBEDDER_IMAGE_FILE_ROOTS: imageRoot,
    EMBEDDINGS_QUEUE: `item-embeddings-${run}`,
    REDIS_KEY_PREFIX: `${run}:`,
    EMBEDDER_MODELS_DIR: join(REPO_ROOT, '.cache', 'models'),
    EMBEDDER_PROJECTIONS_DIR: projectionsDir,
    EMBEDDER_PROJECTION_RELOAD_MS: '100',
    LOG_LEVEL: 'silent',
  };
}

export function bullConnection(): IORedis {
  return new IORedis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
}

/** Waits until `n` jobs of the queue are completed or failed. */
export async function waitForJobs(
  queue: Queue,
  n: number,
  timeoutMs: number,
  pollMs = 200,
): Promise<Record<string, number>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const c = await queue.getJobCounts('completed', 'failed', 'active', 'waiting', 'delayed');
    if ((c.completed ?? 0) + (c.failed ?? 0) >= n) return c;
    if (Date.now() > until) throw new Error(`jobs not done in ${timeoutMs} ms: ${JSON.stringify(c)}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Writes catalogue items to ClickHouse `items` as ingestion would (every column). */
export async function insertItems(ch: ClickHouseService, items: readonly CatalogueItem[]): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  await ch.insert(
    'items',
    items.map((i) => {
      const f = itemFeatures(i);
      return { ...f, updated_at: Math.floor(f.ts_ms / 1000), schema_version: 1, ingested_at: now };
    }),
  );
}

export const features = (items: readonly CatalogueItem[]): ItemFeatures[] => items.map(itemFeatures);

/** Share of each item's k nearest neighbours (cosine) with the same label. */
export function precisionAtK(
  vectors: readonly ArrayLike<number>[],
  labels: readonly number[],
  k: number,
): number {
  const unit = vectors.map((v) => {
    const a = Float64Array.from(v);
    const n = Math.sqrt(a.reduce((s, x) => s + x * x, 0)) || 1;
    return a.map((x) => x / n);
  });
  let hits = 0;
  unit.forEach((v, i) => {
    const sims = unit
      .map((w, j) => [j === i ? -Infinity : w.reduce((s, x, t) => s + x * v[t]!, 0), j] as const)
      .sort((a, b) => b[0] - a[0])
      .slice(0, k);
    hits += sims.filter(([, j]) => labels[j] === labels[i]).length;
  });
  return hits / (unit.length * k);
}
