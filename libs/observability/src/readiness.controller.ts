import { Get, HttpCode, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';

/** One dependency's state, as ClickHouseService.health() and redisHealth() report it. */
export interface DependencyCheck {
  ok: boolean;
}

/**
 * `/live` and `/ready` for the worker apps (ingest, embedder). Liveness checks nothing external: a
 * dependency outage must not get the process restarted. Readiness is every check of `checks()`.
 * Subclasses add `@Controller('health')` and their checks.
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
    const entries = Object.entries(this.checks());
    const results = await Promise.all(entries.map(([, check]) => Promise.resolve(check)));
    const checks = Object.fromEntries(entries.map(([name], i) => [name, results[i]!]));
    const ok = results.every((r) => r.ok);
    void reply.status(ok ? 200 : 503);
    return { status: ok ? 'ok' : 'unavailable', checks };
  }
}
