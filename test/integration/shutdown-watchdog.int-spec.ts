// SIGTERM ends an app within SHUTDOWN_TIMEOUT_MS even when a store never answers: ingest runs as a
// real process against the real Kafka and ClickHouse, with REDIS_URL pointing at a port nobody listens
// on, so its shutdown (flush, close the Redis clients) cannot complete on its own.
import type { Kafka } from 'kafkajs';
import type Redis from 'ioredis';
import { createKafka } from '@mmctr/kafka';
import { createRedis } from '@mmctr/online-store';
import { testConfig } from '../support/clients';
import { freePort } from '../support/free-port';
import { cleanup, createTestTopics, isolatedNames } from '../support/ingest/fixtures';
import { IngestProcess } from '../support/ingest/ingest-process';

const SHUTDOWN_TIMEOUT_MS = 3_000;
// The bound plus room for a loaded 2-core box to deliver the signal and the exit.
const DEADLINE_MS = SHUTDOWN_TIMEOUT_MS + 20_000;

function within<T>(p: Promise<T>, ms: number): Promise<T | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still running'>((r) => (timer = setTimeout(() => r('still running'), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

describe('shutdown watchdog (ingest with Redis unreachable)', () => {
  const config = testConfig();
  const names = isolatedNames('shutdown');
  let kafka: Kafka;
  let redis: Redis;
  let ingest: IngestProcess | undefined;

  beforeAll(async () => {
    kafka = createKafka(config);
    redis = createRedis(config);
    await createTestTopics(kafka, config, names);
  });

  afterAll(async () => {
    if (ingest?.pid !== undefined) await ingest.stop();
    await cleanup(kafka, redis, names).catch(() => undefined);
    redis.disconnect();
  });

  it('exits with a logged error within SHUTDOWN_TIMEOUT_MS after SIGTERM', async () => {
    const deadRedis = await freePort(); // free a moment ago, nothing listens there
    ingest = await IngestProcess.start({
      ...names.env,
      REDIS_URL: `redis://127.0.0.1:${deadRedis}`,
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      LOG_LEVEL: 'info',
    });
    const exit = await within(ingest.kill('SIGTERM'), DEADLINE_MS);
    expect(exit).toEqual({ code: 1, signal: null });
    expect(ingest.messages()).toContain('shutdown did not finish within SHUTDOWN_TIMEOUT_MS; forcing exit');
  });
});
