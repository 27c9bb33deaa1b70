import { ConfigError, loadConfig } from './app-config';

const valid = {
  KAFKA_BROKERS: '127.0.0.1:19092, localhost:9092',
  CLICKHOUSE_URL: 'http://127.0.0.1:8123',
  CLICKHOUSE_DATABASE: 'mmctr',
  CLICKHOUSE_USER: 'default',
  REDIS_URL: 'redis://127.0.0.1:6379',
};

function problems(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('loadConfig', () => {
  it('parses a valid environment into typed values with defaults', () => {
    const cfg = loadConfig({ ...valid, HTTP_PORT: '8080' });
    expect(cfg.KAFKA_BROKERS).toEqual(['127.0.0.1:19092', 'localhost:9092']);
    expect(cfg.HTTP_PORT).toBe(8080);
    expect(cfg.KAFKA_TOPIC_EVENTS).toBe('mmctr.events.v1');
    expect(cfg.CLICKHOUSE_PASSWORD).toBe('');
  });

  it('names a missing variable', () => {
    expect(problems({ ...valid, REDIS_URL: undefined })).toEqual(['REDIS_URL: is required but not set']);
  });

  it('names each malformed variable', () => {
    const p = problems({
      ...valid,
      KAFKA_BROKERS: 'nohostport',
      CLICKHOUSE_URL: 'ftp://x',
      HTTP_PORT: 'abc',
    });
    expect(p).toHaveLength(3);
    expect(p.join('\n')).toMatch(/KAFKA_BROKERS: must be a comma-separated list of host:port/);
    expect(p.join('\n')).toMatch(/CLICKHOUSE_URL: must use http: or https:/);
    expect(p.join('\n')).toMatch(/HTTP_PORT: /);
  });

  it('rejects a database name that is not a plain identifier', () => {
    expect(problems({ ...valid, CLICKHOUSE_DATABASE: 'x; DROP' })[0]).toMatch(
      /CLICKHOUSE_DATABASE: must be a plain/,
    );
  });
});
