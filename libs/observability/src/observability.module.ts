import {
  Controller,
  type DynamicModule,
  type FactoryProvider,
  Get,
  Header,
  HttpCode,
  Inject,
  type InjectionToken,
  Module,
  type ModuleMetadata,
  Res,
} from '@nestjs/common';
import { ApiExcludeController, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { Registry } from 'prom-client';
import type { ReadinessProbe } from './readiness';

/** The app's prom-client registry, scraped at `/metrics`. */
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');
/** The app's readiness probe, answered at `/health/ready`. */
export const READINESS_PROBE = Symbol('READINESS_PROBE');

/** `/health/live` (the process runs; nothing external is checked) and `/health/ready` (the probe). */
@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(@Inject(READINESS_PROBE) private readonly probe: ReadinessProbe) {}

  @Get('live')
  @HttpCode(200)
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<Record<string, unknown>> {
    const { ready, body } = await this.probe();
    void reply.status(ready ? 200 : 503);
    return body;
  }
}

/** Prometheus text exposition of the app's registry. */
@ApiExcludeController()
@Controller()
export class MetricsController {
  constructor(@Inject(METRICS_REGISTRY) private readonly registry: Registry) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.registry.metrics();
  }
}

// Factories take the providers named by `inject`, in that order (never[]: any parameter list fits).
type Factory<T> = (...deps: never[]) => T;

/** Where `/metrics` reads from. */
type RegistrySource =
  | {
      /** The provider whose `registry` is scraped: the app's metrics holder (see appMetrics). */
      metrics: InjectionToken;
      registry?: never;
    }
  | {
      /** Builds the registry from the providers named by `inject` (an app without a metrics holder). */
      registry: Factory<Registry>;
      metrics?: never;
    };

export type ObservabilityOptions = RegistrySource & {
  /** Modules that export what `inject` and `metrics` name (global ones need not be listed). */
  imports?: ModuleMetadata['imports'];
  inject?: InjectionToken[];
  /** E.g. `readyWhenAll({ clickhouse: () => repo.ping() })`; checks go through repositories. */
  readiness: Factory<ReadinessProbe>;
};

function registryProvider(options: ObservabilityOptions): FactoryProvider<Registry> {
  if (options.metrics !== undefined) {
    const useFactory = (holder: { registry: Registry }): Registry => holder.registry;
    return { provide: METRICS_REGISTRY, inject: [options.metrics], useFactory };
  }
  const useFactory = options.registry as (...deps: unknown[]) => Registry;
  return { provide: METRICS_REGISTRY, inject: options.inject ?? [], useFactory };
}

/** One app's `/health/live`, `/health/ready` and `/metrics`. */
@Module({})
export class ObservabilityModule {
  static forRoot(options: ObservabilityOptions): DynamicModule {
    return {
      module: ObservabilityModule,
      imports: options.imports ?? [],
      controllers: [HealthController, MetricsController],
      providers: [
        registryProvider(options),
        {
          provide: READINESS_PROBE,
          inject: options.inject ?? [],
          useFactory: options.readiness as (...deps: unknown[]) => ReadinessProbe,
        },
      ],
      exports: [METRICS_REGISTRY],
    };
  }
}
