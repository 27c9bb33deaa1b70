import 'reflect-metadata';
import { Injectable, Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Counter, Registry } from 'prom-client';
import { ObservabilityModule } from './observability.module';
import { readyWhenAll, type DependencyCheck } from './readiness';

/** A stand-in for an app's repository: its ping is what the readiness probe checks. */
@Injectable()
class FakeStoreRepository {
  state: DependencyCheck | Error = { ok: true };

  ping(): Promise<DependencyCheck> {
    return this.state instanceof Error ? Promise.reject(this.state) : Promise.resolve(this.state);
  }
}

/** A stand-in for an app's metrics holder. */
@Injectable()
class FakeMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'test_requests_total', help: 'h', registers: [this.registry] });
}

@Module({ providers: [FakeStoreRepository, FakeMetrics], exports: [FakeStoreRepository, FakeMetrics] })
class StoreModule {}

@Module({
  imports: [
    ObservabilityModule.forRoot({
      imports: [StoreModule],
      metrics: FakeMetrics,
      inject: [FakeStoreRepository],
      readiness: (store: FakeStoreRepository) =>
        readyWhenAll({ store: () => store.ping(), worker: () => ({ ok: true }) }),
    }),
  ],
})
class AppModule {}

async function start(module: Type): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(module, new FastifyAdapter(), {
    logger: false,
  });
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

const scrape = (app: NestFastifyApplication, url: string) =>
  app.getHttpAdapter().getInstance().inject({ method: 'GET', url });

describe('ObservabilityModule', () => {
  let app: NestFastifyApplication;
  let store: FakeStoreRepository;

  beforeAll(async () => {
    app = await start(AppModule);
    store = app.get(FakeStoreRepository);
  });

  afterAll(() => app.close());

  const get = (url: string) => scrape(app, url);

  it('is ready (200) while every check is ok, and reports each', async () => {
    store.state = { ok: true };
    const res = await get('/health/ready');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', checks: { store: { ok: true }, worker: { ok: true } } });
  });

  it('answers 503 when a repository ping fails or throws; liveness stays 200', async () => {
    store.state = { ok: false, error: 'ECONNREFUSED' } as DependencyCheck;
    const down = await get('/health/ready');
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ status: 'unavailable', checks: { store: { ok: false } } });

    store.state = new Error('socket closed');
    const thrown = await get('/health/ready');
    expect(thrown.statusCode).toBe(503);
    expect(thrown.json()).toMatchObject({ checks: { store: { ok: false, error: 'socket closed' } } });

    const live = await get('/health/live');
    expect(live.statusCode).toBe(200);
    expect(live.json()).toEqual({ status: 'ok' });
  });

  it("serves the metrics holder's registry in Prometheus text format at /metrics", async () => {
    app.get(FakeMetrics).requests.inc(3);
    const res = await get('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.body).toMatch(/^test_requests_total 3$/m);
  });
});

describe('ObservabilityModule with a registry factory', () => {
  const registry = new Registry();
  new Counter({ name: 'test_built_total', help: 'h', registers: [registry] }).inc(2);
  let injected: unknown;

  @Module({
    imports: [
      ObservabilityModule.forRoot({
        imports: [StoreModule],
        inject: [FakeStoreRepository],
        registry: (store: FakeStoreRepository) => {
          injected = store;
          return registry;
        },
        readiness: (store: FakeStoreRepository) => readyWhenAll({ store: () => store.ping() }),
      }),
    ],
  })
  class FactoryAppModule {}

  it('serves the registry the factory builds from the injected providers', async () => {
    const app = await start(FactoryAppModule);
    try {
      const res = await scrape(app, '/metrics');
      expect(res.statusCode).toBe(200);
      expect(res.body).toMatch(/^test_built_total 2$/m);
      expect(injected).toBe(app.get(FakeStoreRepository));
    } finally {
      await app.close();
    }
  });
});
