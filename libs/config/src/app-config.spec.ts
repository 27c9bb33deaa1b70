import { loadConfig } from './app-config';
import { configProblems } from './config-problems.testing';

const valid = {
  KAFKA_BROKERS: '127.0.0.1:19092, localhost:9092',
  CLICKHOUSE_URL: 'http://127.0.0.1:8123',
  CLICKHOUSE_DATABASE: 'mmctr',
  CLICKHOUSE_USER: 'default',
  REDIS_URL: 'redis://127.0.0.1:6379',
};

const problems = (env: Record<string, string | undefined>): string[] => configProblems(() => loadConfig(env));

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
    const malformed = { KAFKA_BROKERS: 'nohostport', CLICKHOUSE_URL: 'ftp://x', HTTP_PORT: 'abc' };
    const p = problems({ ...valid, ...malformed });
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

  it.each([
    ['REDIS_URL', 'not-a-url', /REDIS_URL: must be a URL/],
    ['REDIS_URL', 'http://127.0.0.1:6379', /REDIS_URL: must use redis: or rediss:/],
    ['REDIS_URL', 'redis://127.0.0.1:99999', /REDIS_URL: must be a URL/],
    ['CLICKHOUSE_URL', '', /CLICKHOUSE_URL: must be a URL/],
    ['CLICKHOUSE_URL', 'localhost:8123', /CLICKHOUSE_URL: must use http: or https:/],
    ['KAFKA_BROKERS', '127.0.0.1:99999', /KAFKA_BROKERS: .*port 1\.\.65535/],
    ['KAFKA_BROKERS', '127.0.0.1:0', /KAFKA_BROKERS: /],
    ['KAFKA_BROKERS', ' , ', /KAFKA_BROKERS: /],
    ['HTTP_PORT', '', /HTTP_PORT: must be an integer/],
    ['HTTP_PORT', '  ', /HTTP_PORT: must be an integer/],
    ['HTTP_PORT', '65536', /HTTP_PORT: must be an integer from 0 to 65535/],
    ['HTTP_PORT', '80.5', /HTTP_PORT: must be an integer/],
    ['SHUTDOWN_TIMEOUT_MS', '', /SHUTDOWN_TIMEOUT_MS: must be an integer/],
  ])('rejects %s=%j naming the variable', (name, value, message) => {
    const p = problems({ ...valid, [name]: value });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(message);
  });

  it('accepts redis URLs with credentials and TLS, IPv6 brokers and an explicit port 0', () => {
    const cfg = loadConfig({
      ...valid,
      REDIS_URL: 'rediss://:secret@redis.internal:6380/2',
      KAFKA_BROKERS: '[::1]:9092,kafka-1:65535',
      HTTP_PORT: '0',
      SHUTDOWN_TIMEOUT_MS: '5000',
    });
    expect(cfg.KAFKA_BROKERS).toEqual(['[::1]:9092', 'kafka-1:65535']);
    expect(cfg.HTTP_PORT).toBe(0);
    expect(cfg.SHUTDOWN_TIMEOUT_MS).toBe(5000);
  });
});
