import { Get, HttpCode, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { readyWhenAll, type DependencyCheck } from './readiness';

export type { DependencyCheck } from './readiness';

/**
 * `/live` and `/ready` for an app that subclasses its own controller with `@Controller('health')` and
 * its checks; ObservabilityModule gives the same endpoints without a subclass. Liveness checks nothing
 * external: a dependency outage must not get the process restarted. Readiness is every check of
 * `checks()`.
 */
export abstract class ReadinessController {
  protected abstract checks(): Record<string, DependencyCheck | Promise<DependencyCheck>>;

  @Get('live')
  @HttpCode(200)
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  async ready(@Res({ passthrough: true }) reply: FastifyReply) {
    const checks = Object.entries(this.checks()).map(([name, check]) => [name, () => check] as const);
    const { ready, body } = await readyWhenAll(Object.fromEntries(checks))();
    void reply.status(ready ? 200 : 503);
    return body as { status: 'ok' | 'unavailable'; checks: Record<string, DependencyCheck> };
  }
}
