import { z } from 'zod';
import { DEFAULT_TOPICS } from '@mmctr/contracts';

const hostPort = /^[A-Za-z0-9.-]+:\d{1,5}$/;
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const url = (protocols: string[]) =>
  z
    .string()
    .url()
    .refine((v) => protocols.includes(new URL(v).protocol), `must use ${protocols.join(' or ')}`);

/**
 * Every environment variable any mmctr app reads. Connection settings are required (no silent
 * defaults that point at the wrong cluster); tuning knobs have defaults.
 */
export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  KAFKA_BROKERS: z
    .string()
    .min(1)
    .transform((v) => v.split(',').map((s) => s.trim()))
    .refine((list) => list.every((b) => hostPort.test(b)), 'must be a comma-separated list of host:port'),
  KAFKA_CLIENT_ID: z.string().min(1).default('mmctr'),
  KAFKA_TOPIC_EVENTS: z.string().min(1).default(DEFAULT_TOPICS.events),
  KAFKA_TOPIC_ITEMS: z.string().min(1).default(DEFAULT_TOPICS.items),
  KAFKA_TOPIC_DLQ: z.string().min(1).default(DEFAULT_TOPICS.dlq),
  KAFKA_TOPIC_SCORES: z.string().min(1).default(DEFAULT_TOPICS.scores),

  CLICKHOUSE_URL: url(['http:', 'https:']),
  CLICKHOUSE_DATABASE: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier'),
  CLICKHOUSE_USER: z.string().min(1),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  CLICKHOUSE_REQUEST_TIMEOUT_MS: int(100, 3_600_000).default(60_000),

  REDIS_URL: url(['redis:', 'rediss:']),
  REDIS_KEY_PREFIX: z.string().default('mmctr:'),

  HTTP_HOST: z.string().default('127.0.0.1'),
  HTTP_PORT: int(0, 65535).default(3000),
  METRICS_ENABLED: bool.default('true'),
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
  const result = configSchema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.');
    const missing = env[name] === undefined;
    return `${name}: ${missing ? 'is required but not set' : issue.message}`;
  });
  throw new ConfigError(problems);
}
