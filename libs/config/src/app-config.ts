import { z } from 'zod';
import { DEFAULT_TOPICS } from '@mmctr/contracts';
import { envBool as bool, envHostPortList, envInt as int, envList, envUrl as url } from './env-types';

/**
 * Every environment variable any mmctr app reads. Connection settings are required (no silent
 * defaults that point at the wrong cluster); tuning knobs have defaults.
 */
/** A remote_servers cluster name (it is written into DDL unquoted). */
const clusterName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier (a remote_servers cluster name)')
  .optional();

const fields = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Where JSON logs go; the mmctr CLI defaults to stderr, as its commands print their results to stdout.
  LOG_STREAM: z.enum(['stdout', 'stderr']).default('stdout'),

  KAFKA_BROKERS: envHostPortList(),
  KAFKA_CLIENT_ID: z.string().min(1).default('mmctr'),
  KAFKA_TOPIC_EVENTS: z.string().min(1).default(DEFAULT_TOPICS.events),
  KAFKA_TOPIC_ITEMS: z.string().min(1).default(DEFAULT_TOPICS.items),
  KAFKA_TOPIC_DLQ: z.string().min(1).default(DEFAULT_TOPICS.dlq),
  KAFKA_TOPIC_SCORES: z.string().min(1).default(DEFAULT_TOPICS.scores),
  // Replicas of each platform topic, and how many must have a write before it is acknowledged (producers
  // send with acks=all). 1 and unset on one broker; 3 and 2 on a cluster (deploy/local/cluster.env).
  KAFKA_REPLICATION_FACTOR: int(1, 16).default(1),
  KAFKA_MIN_INSYNC_REPLICAS: int(1, 16).optional(),
  /** Topic of a snapshot entity other than the item: `{table}` is replaced by the entity's table. */
  KAFKA_TOPIC_ENTITY_PATTERN: z
    .string()
    .regex(/\{table\}/, 'must contain {table}')
    .default('mmctr.{table}.v1'),

  CLICKHOUSE_URL: url(['http:', 'https:']),
  CLICKHOUSE_DATABASE: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier'),
  CLICKHOUSE_USER: z.string().min(1),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  CLICKHOUSE_REQUEST_TIMEOUT_MS: int(100, 3_600_000).default(60_000),
  // Set to a remote_servers cluster name to render migrations as cluster DDL (ON CLUSTER, Replicated*
  // tables under <table>_local, Distributed tables under the original names); unset for one server.
  CLICKHOUSE_CLUSTER: clusterName,
  // A remote_servers cluster listing one replica of each CLICKHOUSE_CLUSTER shard. ALTERs of replicated
  // tables (column changes, partition drops) run ON CLUSTER it, so exactly one server per shard runs each:
  // with both replicas listed, 18.16's DDL worker can run one on two replicas and then stop for good
  // (docs/operations.md). Unset: they run ON CLUSTER CLICKHOUSE_CLUSTER.
  CLICKHOUSE_ALTER_CLUSTER: clusterName,

  // The feature repository every stage derives its schema from: a repo.json file or a folder holding
  // one. Unset: the built-in demo repository (feature-repos/demo).
  FEATURE_REPO: z.string().min(1).optional(),

  REDIS_URL: url(['redis:', 'rediss:']),
  // Seed nodes of a Redis Cluster (host:port list): when set, clients run in cluster mode and take only
  // the password, user and TLS from REDIS_URL.
  REDIS_CLUSTER_NODES: envHostPortList().optional(),
  REDIS_KEY_PREFIX: z.string().default('mmctr:'),

  // Ingest (apps/ingest): consumer group, batch bounds (see docs/ingestion.md) and retry backoff.
  INGEST_GROUP_ID: z.string().min(1).default('mmctr-ingest'),
  INGEST_BATCH_MAX_ROWS: int(1, 1_000_000).default(50_000),
  INGEST_BATCH_MAX_WAIT_MS: int(1, 60_000).default(250),
  INGEST_MAX_PENDING_ROWS: int(1, 10_000_000).default(150_000),
  // Event flushes whose stores may overlap; commits stay in offset order.
  INGEST_MAX_CONCURRENT_FLUSHES: int(1, 16).default(2),
  INGEST_FETCH_MAX_BYTES_PER_PARTITION: int(1024, 100 * 1024 * 1024).default(4 * 1024 * 1024),
  INGEST_RETRY_INITIAL_MS: int(1, 60_000).default(200),
  INGEST_RETRY_MAX_MS: int(1, 600_000).default(5_000),
  INGEST_SHUTDOWN_GRACE_MS: int(0, 600_000).default(20_000),
  // Readiness (ingest and the score-log sink): a store failing this long, or no commit this long while
  // messages wait, answers 503. Retries go on either way.
  INGEST_STORE_RETRY_DEADLINE_MS: int(100, 3_600_000).default(30_000),
  INGEST_STALL_TIMEOUT_MS: int(100, 3_600_000).default(60_000),
  // Aggregate counter buckets and their seen markers live at least this long after a write (0: they
  // expire by event time only). For replays and backtests of old events, which would otherwise be
  // dropped as already expired.
  AGGREGATE_MIN_TTL_MS: int(0, 365 * 86_400_000).default(0),
  // Dead letters larger than this are written as a truncated envelope keeping the first DLQ_HEAD_BYTES.
  DLQ_MAX_MESSAGE_BYTES: int(4_096, 100 * 1024 * 1024).default(1_000_000),
  DLQ_HEAD_BYTES: int(0, 1024 * 1024).default(64 * 1024),

  // Online store (libs/online-store): which behaviour types feed a user's recent-behaviour list.
  ONLINE_HISTORY_TYPES: envList('click')
    .refine(
      (list) => list.length > 0 && list.every((t) => ['impression', 'click', 'conversion'].includes(t)),
      'must be a comma-separated list of impression, click, conversion',
    )
    .transform((list) => list as ('impression' | 'click' | 'conversion')[]),
  ONLINE_HISTORY_CAP: int(1, 10_000).default(100),
  ONLINE_HISTORY_TTL_S: int(0, 10 * 365 * 86_400).default(90 * 86_400),
  EMBEDDINGS_QUEUE: z.string().min(1).default('item-embeddings'),
  BULLMQ_PREFIX: z.string().min(1).default('bull'),

  HTTP_HOST: z.string().default('127.0.0.1'),
  // 0 asks for any free port (tests); blank is an error, not a random port.
  HTTP_PORT: int(0, 65535).default(3000),
  /** After SIGTERM/SIGINT, force-exit with an error once shutdown has taken this long (a store that
   * never answers must not keep the process alive). Keep it above the apps' own grace periods. */
  SHUTDOWN_TIMEOUT_MS: int(100, 600_000).default(45_000),
  METRICS_ENABLED: bool.default('true'),
});

export const configSchema = fields.superRefine((config, ctx) => {
  if (config.CLICKHOUSE_ALTER_CLUSTER && !config.CLICKHOUSE_CLUSTER) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ['CLICKHOUSE_ALTER_CLUSTER'],
      message: 'needs CLICKHOUSE_CLUSTER (it names a subset of that cluster)',
    });
  }
});

export type AppConfig = z.output<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment once; throws ConfigError naming each missing or malformed variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  return loadConfigSection(configSchema, env);
}

/** The same fail-fast parsing for an app's own variables (each app keeps its extra schema beside it). */
export function loadConfigSection<S extends z.ZodTypeAny>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data as z.output<S>;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.');
    const missing = env[name] === undefined;
    return `${name}: ${missing ? 'is required but not set' : issue.message}`;
  });
  throw new ConfigError(problems);
}
