import { timingSafeEqual } from 'node:crypto';
import { type CanActivate, type ExecutionContext, UnauthorizedException } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

/**
 * Optional API-key check on the `x-api-key` header, open when no key is configured. Keys are compared
 * in constant time. Each app subclasses it to inject its own key list (SCORER_API_KEYS,
 * DASHBOARD_API_KEYS), so the check itself exists once.
 */
export class ApiKeyGuard implements CanActivate {
  private readonly keys: Buffer[];

  constructor(keys: readonly string[]) {
    this.keys = keys.map((k) => Buffer.from(k));
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  canActivate(ctx: ExecutionContext): boolean {
    if (this.keys.length === 0) return true;
    const header = ctx.switchToHttp().getRequest<FastifyRequest>().headers['x-api-key'];
    const given = Buffer.from(typeof header === 'string' ? header : '');
    if (this.keys.some((k) => k.length === given.length && timingSafeEqual(k, given))) return true;
    throw new UnauthorizedException('missing or invalid x-api-key');
  }
}
