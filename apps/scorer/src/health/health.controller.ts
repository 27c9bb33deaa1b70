import { Controller, Get, HttpCode, Inject, ServiceUnavailableException } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type Redis from 'ioredis';
import { ItemCacheService } from '../items/item-cache.service';
import { ModelManager } from '../model/model-manager.service';
import { SCORER_REDIS } from '../redis/redis.module';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    @Inject(ModelManager) private readonly models: ModelManager,
    @Inject(ItemCacheService) private readonly items: ItemCacheService,
    @Inject(SCORER_REDIS) private readonly redis: Redis,
  ) {}

  @Get('live')
  @HttpCode(200)
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Ready once a model serves; Redis and the item cache only degrade answers, so they are reported, not required. */
  @Get('ready')
  ready() {
    const body = {
      status: this.models.ready ? 'ready' : 'not_ready',
      model_version: this.models.version('production') ?? null,
      shadow_model_version: this.models.version('shadow') ?? null,
      item_cache: { loaded: this.items.isLoaded, rows: this.items.cache.size },
      redis: this.redis.status,
    };
    if (!this.models.ready) throw new ServiceUnavailableException(body);
    return body;
  }
}
