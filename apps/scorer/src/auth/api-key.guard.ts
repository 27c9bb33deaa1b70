import { timingSafeEqual } from 'node:crypto';
import {
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { SCORER_CONFIG, type ScorerConfig } from '../config/scorer-config';

/** Optional API-key check on `x-api-key`; open when SCORER_API_KEYS is empty. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keys: Buffer[];

  constructor(@Inject(SCORER_CONFIG) config: ScorerConfig) {
    this.keys = config.SCORER_API_KEYS.map((k) => Buffer.from(k));
  }

  canActivate(ctx: ExecutionContext): boolean {
    if (this.keys.length === 0) return true;
    const header = ctx.switchToHttp().getRequest<FastifyRequest>().headers['x-api-key'];
    const given = Buffer.from(typeof header === 'string' ? header : '');
    if (this.keys.some((k) => k.length === given.length && timingSafeEqual(k, given))) return true;
    throw new UnauthorizedException('missing or invalid x-api-key');
  }
}
