import { z } from 'zod';
import {
  ConfigSectionModule,
  envBool as bool,
  envInt as int,
  envKeyList,
  envNumber,
  loadConfigSection,
} from '@mmctr/config';
import { MM_VECTOR_KEY_TEMPLATE } from '@mmctr/online-store';

/** The scorer's own variables (connections come from @mmctr/config). */
export const scorerConfigSchema = z.object({
  /** Accepted `x-api-key` values; unset disables authentication (set but listing none is an error). */
  SCORER_API_KEYS: envKeyList(),
  SCORER_MAX_CANDIDATES: int(1, 100_000).default(2000),
  SCORER_BODY_LIMIT_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),

  /** Folder that relative registry artifact_uri values resolve against. */
  SCORER_MODEL_ROOT: z.string().default('.'),
  /** Serve this artifact folder instead of following the registry (benchmarks, local runs). */
  SCORER_MODEL_DIR: z.string().optional(),
  /** File of the artifact folder to serve, e.g. model.int8.onnx for the trainer's quantised export. */
  SCORER_MODEL_FILE: z
    .string()
    .regex(/^[\w.-]+\.onnx$/, 'must be a file name ending in .onnx')
    .default('model.onnx'),
  SCORER_REGISTRY_POLL_MS: int(100, 3_600_000).default(5_000),
  /** A version that failed to load is retried after this long (the old one keeps serving). */
  SCORER_MODEL_RETRY_MS: int(100, 86_400_000).default(60_000),
  /** `candidate`: also score each request with the newest candidate version, off the response path. */
  SCORER_SHADOW_MODE: z.enum(['off', 'candidate']).default('off'),
  SCORER_INTRA_OP_THREADS: int(0, 256).default(2),
  SCORER_INTER_OP_THREADS: int(0, 256).default(1),
  /** Let onnxruntime's pool threads spin between runs; off suits a few cores shared with other work. */
  SCORER_ORT_ALLOW_SPINNING: bool.default('false'),
  SCORER_EXECUTION_PROVIDER: z.enum(['cpu', 'cuda']).default('cpu'),
  /** Threads that run inference off the request loop, each with sessions of its own; 0: on the
   * request loop (docs/scorer.md, Inference pool and processes). */
  SCORER_INFERENCE_WORKERS: int(0, 64).default(0),
  /** Scorer processes sharing the port (Node's cluster module), each with its own sessions. */
  SCORER_PROCESSES: int(1, 64).default(1),
  /** Concurrent requests share runs of the artifact's batch graph (meant for the GPU; docs/scorer.md). */
  SCORER_MICRO_BATCH: bool.default('false'),
  /** How long a batch waits for more requests; 0: only those reaching the model in the same turn of
   * the event loop (no added wait). */
  SCORER_MICRO_BATCH_WINDOW_MS: int(0, 1_000).default(0),
  /** A micro-batch runs as soon as it holds this many candidates. */
  SCORER_MICRO_BATCH_MAX_CANDIDATES: int(1, 1_000_000).default(4096),

  /** Per-call budget for Redis (history, item misses, aggregate windows); past it the request degrades. */
  SCORER_REDIS_TIMEOUT_MS: int(1, 10_000).default(50),
  /** Aggregate window sums (per key value and bucket tier) kept in process, each until its tier's next
   * bucket boundary (docs/features.md, Aggregations). */
  SCORER_AGGREGATE_CACHE_ENTRIES: int(1, 100_000_000).default(200_000),
  /** A tier of at most this many buckets x fields keeps each bucket's values per key value (8 bytes
   * each) and rolls its sums forward at a boundary; larger tiers read their widest window whole. 512
   * covers 7 days of hours for 3 fields (bench/score/aggregates.ts, hour boundary). */
  SCORER_AGGREGATE_ROLL_MAX_VALUES: int(0, 100_000).default(512),
  /** At start-up, before serving, the windows keyed by the candidate alone (no requester part) are read
   * for up to this many items of the item cache, so the first requests do not read them all cold; 0: none.
   * About 0.6 ms per item of the aggregate demo layout (bench/score/aggregates.ts, restart-warmed): it
   * delays listening, so it counts against a startup probe. */
  SCORER_AGGREGATE_WARM_ITEMS: int(0, 100_000_000).default(10_000),
  /** The warm-up starts no read after this long, however many items are left. */
  SCORER_AGGREGATE_WARM_MAX_MS: int(1, 600_000).default(20_000),
  /** The warm-up takes the items scored most often in this many minutes of the score log first, then the
   * item cache's order for the rest; 0: the item cache's order only. */
  SCORER_AGGREGATE_WARM_LOOKBACK_MIN: int(0, 43_200).default(60),
  /** Hash holding an item's fused vector in field `v` (Float32 little-endian), written by apps/embedder. */
  SCORER_REDIS_VECTOR_KEY: z.string().default(MM_VECTOR_KEY_TEMPLATE),
  SCORER_ITEM_CACHE_SOURCE: z.enum(['clickhouse', 'none']).default('clickhouse'),
  SCORER_ITEM_CACHE_REFRESH_MS: int(100, 86_400_000).default(30_000),
  SCORER_ITEM_CACHE_PAGE_ROWS: int(100, 1_000_000).default(20_000),
  /** How far before its watermarks a refresh looks for rows stored late (at least ingested_at's 1 s). */
  SCORER_ITEM_CACHE_OVERLAP_MS: int(1_000, 3_600_000).default(10_000),
  /** Every this long a refresh also compares per-bucket digests of what lies before its overlaps, and reads
   * the buckets that changed again (rows stored later than the overlap); 0: never. */
  SCORER_ITEM_CACHE_RECONCILE_MS: int(0, 86_400_000).default(600_000),
  /** Those buckets' width, in seconds of ingested_at and of created_ms. */
  SCORER_ITEM_CACHE_RECONCILE_BUCKET_S: int(1, 86_400).default(3_600),
  /** Embedding projection version to read; empty = the newest vector of any projection. */
  SCORER_PROJECTION_VERSION: z.string().default(''),
  /** Unknown items are looked up in Redis again only after this long. */
  SCORER_NEGATIVE_CACHE_MS: int(0, 3_600_000).default(30_000),
  /** CTR answered when no model output is available (degraded). */
  SCORER_PRIOR_CTR: envNumber(0, 1).default(0.02),

  /** Budget of a request that sends no x-request-deadline-ms header; 0: no deadline (only the queue
   * bound sheds). 100 ms: what an ad server typically gives scoring at p99. */
  SCORER_DEFAULT_DEADLINE_MS: int(0, 3_600_000).default(100),
  /** Requests admitted and not yet answered; one more is shed with 503 (queue_full). */
  SCORER_MAX_QUEUE: int(1, 100_000).default(64),
  /** Answer a Server-Timing header with the request's stage times (queue, history, items, encode,
   * inference); bench/score --profile turns it on. */
  SCORER_SERVER_TIMING: bool.default('false'),

  SCORER_SCORE_LOG_ENABLED: bool.default('true'),
  SCORER_SCORE_LOG_MAX_QUEUE: int(1, 1_000_000).default(20_000),
  /** Records reach Kafka within this interval. Short: the log's CPU comes in small bursts that
   * preempt onnxruntime less (emb-64 HTTP ÷ raw 1.21 at 200 ms, 1.16 at 50; docs/benchmarks.md). */
  SCORER_SCORE_LOG_FLUSH_MS: int(1, 60_000).default(50),
  /** Records per produce request. Sent from the score log thread, so a chunk blocks no request; a
   * produce request costs ~340 µs of CPU, so fewer, larger ones are cheaper per record. */
  SCORER_SCORE_LOG_BATCH_RECORDS: int(1, 10_000).default(32),
  /** Bytes per produce request; keep it under the broker's message.max.bytes (Kafka's default 1 MiB). */
  SCORER_SCORE_LOG_MAX_BATCH_BYTES: int(1024, 64 * 1024 * 1024).default(1_000_000),

  SCORE_LOG_SINK_ENABLED: bool.default('true'),
  SCORE_LOG_SINK_GROUP_ID: z.string().min(1).default('mmctr-score-log-sink'),
  SCORE_LOG_SINK_MAX_MESSAGE_BYTES: int(1024, 16 * 1024 * 1024).default(4 * 1024 * 1024),
});

export type ScorerConfig = z.output<typeof scorerConfigSchema>;
export const SCORER_CONFIG = Symbol('SCORER_CONFIG');

/** Parses the scorer's variables; throws naming each bad one. */
export function loadScorerConfig(env: NodeJS.ProcessEnv = process.env): ScorerConfig {
  return loadConfigSection(scorerConfigSchema, env);
}

export const ScorerConfigModule = ConfigSectionModule.forRoot(SCORER_CONFIG, loadScorerConfig);
