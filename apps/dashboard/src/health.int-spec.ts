// The dashboard's health and metrics endpoints against the real ClickHouse, and with it unreachable.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module';

async function start(env: Record<string, string>): Promise<NestFastifyApplication> {
  const saved = { ...process.env };
  Object.assign(process.env, { LOG_LEVEL: 'silent', DASHBOARD_SAMPLE_INTERVAL_MS: '600000' }, env);
  try {
    const app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter(), {
      logger: false,
    });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    return app;
  } finally {
    process.env = saved;
  }
}

const get = (app: NestFastifyApplication, url: string) =>
  app.getHttpAdapter().getInstance().inject({ method: 'GET', url });

describe('dashboard /health and /metrics', () => {
  it('is live and ready while ClickHouse answers, and serves its process metrics', async () => {
    const app = await start({});
    try {
      expect((await get(app, '/health/live')).json()).toEqual({ status: 'ok' });
      const ready = await get(app, '/health/ready');
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toMatchObject({ status: 'ok', checks: { clickhouse: { ok: true } } });
      const metrics = await get(app, '/metrics');
      expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
      expect(metrics.body).toMatch(/^mmctr_dashboard_process_cpu_seconds_total /m);
    } finally {
      await app.close();
    }
  });

  it('answers 503 on /health/ready, still live, when ClickHouse is unreachable', async () => {
    // Port 9 (discard) has no ClickHouse: the connection is refused.
    const app = await start({ CLICKHOUSE_URL: 'http://127.0.0.1:9', CLICKHOUSE_REQUEST_TIMEOUT_MS: '2000' });
    try {
      const ready = await get(app, '/health/ready');
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({ status: 'unavailable', checks: { clickhouse: { ok: false } } });
      expect((await get(app, '/health/live')).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});
