import {
  Controller,
  type DynamicModule,
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

export interface ObservabilityOptions {
  /** Modules that export what `inject` names (global ones need not be listed). */
  imports?: ModuleMetadata['imports'];
  inject?: InjectionToken[];
  registry: Factory<Registry>;
  /** E.g. `readyWhenAll({ clickhouse: () => repo.ping() })`; checks go through repositories. */
  readiness: Factory<ReadinessProbe>;
}

/** One app's `/health/live`, `/health/ready` and `/metrics`. */
@Module({})
export class ObservabilityModule {
  static forRoot(options: ObservabilityOptions): DynamicModule {
    const inject = options.inject ?? [];
    return {
      module: ObservabilityModule,
      imports: options.imports ?? [],
      controllers: [HealthController, MetricsController],
      providers: [
        {
          provide: METRICS_REGISTRY,
          inject,
          useFactory: options.registry as (...deps: unknown[]) => Registry,
        },
        {
          provide: READINESS_PROBE,
          inject,
          useFactory: options.readiness as (...deps: unknown[]) => ReadinessProbe,
        },
      ],
      exports: [METRICS_REGISTRY],
    };
  }
}
