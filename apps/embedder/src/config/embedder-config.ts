import { join, resolve } from 'node:path';
import { z } from 'zod';
import { envBool as bool, envInt as int, envList, loadConfigSection } from '@mmctr/config';

const list = envList();

/** The encoders, and the projections fitted over their vectors. */
const models = {
  /** Where scripts/setup-models.sh put the encoders, manifest.json and projections/. */
  EMBEDDER_MODELS_DIR: z
    .string()
    .default('.cache/models')
    .transform((p) => resolve(p)),
  /** Projection artifacts; default <EMBEDDER_MODELS_DIR>/projections (share it between workers). */
  EMBEDDER_PROJECTIONS_DIR: z.string().optional(),
  /** Size of the fused vector of a newly fitted projection, and the fit's item sample. */
  EMBEDDER_FUSED_DIM: int(2, 1_024).default(128),
  EMBEDDER_PCA_SAMPLE: int(10, 1_000_000).default(4_000),
  /** How often the worker looks for a newer current projection. */
  EMBEDDER_PROJECTION_RELOAD_MS: int(100, 3_600_000).default(10_000),
};

/** How the encoders run: threads, text runs, batches. */
const inference = {
  /**
   * Worker threads that run the ONNX sessions, and onnxruntime's intra-op threads in each. One
   * single-threaded session per core beat one session spanning the cores (bench/embed, docs/benchmarks.md):
   * no intra-op barrier for the main thread's work to stall.
   */
  EMBEDDER_INFERENCE_THREADS: int(1, 16).default(2),
  EMBEDDER_ORT_THREADS: int(1, 64).default(1),
  /**
   * `per-text`: one text-encoder run per text, so a text's vector does not depend on the texts batched
   * with it (the default int8 encoder quantizes each run's activations over the whole run); `batched`:
   * one run per batch, 5–10 % faster here (bench/embed/text-batching.ts), for an encoder without that
   * dependence.
   */
  EMBEDDER_TEXT_RUNS: z.enum(['per-text', 'batched']).default('per-text'),
  EMBEDDER_BATCH_MAX: int(1, 512).default(16),
  EMBEDDER_BATCH_WAIT_MS: int(0, 10_000).default(10),
};

/**
 * item_embeddings inserts: rows of concurrent jobs share one insert of up to this many rows, sent
 * once its first row has waited this long (each insert is a new part for ClickHouse to write and merge).
 */
const writes = {
  EMBEDDER_WRITE_MAX_ROWS: int(1, 100_000).default(1_000),
  EMBEDDER_WRITE_MAX_WAIT_MS: int(0, 60_000).default(1_000),
};

/** The worker's hold on the job queue. */
const queue = {
  /**
   * Jobs a worker holds at once: enough to fill inference batches while images download and while
   * finished jobs wait for their shared ClickHouse insert.
   */
  EMBEDDER_CONCURRENCY: int(1, 1_000).default(512),
  EMBEDDER_LOCK_DURATION_MS: int(1_000, 3_600_000).default(30_000),
  EMBEDDER_STALLED_INTERVAL_MS: int(500, 3_600_000).default(30_000),
  EMBEDDER_SHUTDOWN_GRACE_MS: int(0, 600_000).default(30_000),
};

/** Where images may be read from, and how much of them. */
const images = {
  /** Hosts http(s) images may come from (exact, `*.suffix`, or `*`); empty = no remote images. */
  EMBEDDER_IMAGE_ALLOWED_HOSTS: list,
  /** Lets allow-listed hosts resolve to private, loopback or link-local addresses (tests, on-prem). */
  EMBEDDER_IMAGE_ALLOW_PRIVATE: bool.default('false'),
  EMBEDDER_IMAGE_ALLOW_FILES: bool.default('true'),
  /** Directories local images must lie under; empty (the default) = no local files at all. */
  EMBEDDER_IMAGE_FILE_ROOTS: list.transform((dirs) => dirs.map((d) => resolve(d))),
  EMBEDDER_IMAGE_MAX_BYTES: int(1_024, 1_024 * 1_024 * 1_024).default(10 * 1_024 * 1_024),
  /** Deadline for one image: a whole fetch (redirects, slow bodies) or a whole file read. */
  EMBEDDER_IMAGE_TIMEOUT_MS: int(10, 600_000).default(5_000),
  EMBEDDER_IMAGE_MAX_REDIRECTS: int(0, 10).default(3),
  /** sharp's limitInputPixels: larger images are refused before decoding (decompression bombs). */
  EMBEDDER_IMAGE_MAX_PIXELS: int(1, 1_000_000_000).default(40_000_000),
};

/** The embedder's own variables (the shared ones come from @mmctr/config). */
export const embedderConfigSchema = z.object({ ...models, ...inference, ...writes, ...queue, ...images });

export type EmbedderConfig = Omit<z.output<typeof embedderConfigSchema>, 'EMBEDDER_PROJECTIONS_DIR'> & {
  EMBEDDER_PROJECTIONS_DIR: string;
};
export const EMBEDDER_CONFIG = Symbol('EMBEDDER_CONFIG');

/** Parses the embedder's variables; throws ConfigError naming each malformed one. */
export function loadEmbedderConfig(env: NodeJS.ProcessEnv = process.env): EmbedderConfig {
  const c = loadConfigSection(embedderConfigSchema, env);
  return {
    ...c,
    EMBEDDER_PROJECTIONS_DIR: resolve(
      c.EMBEDDER_PROJECTIONS_DIR ?? join(c.EMBEDDER_MODELS_DIR, 'projections'),
    ),
  };
}
