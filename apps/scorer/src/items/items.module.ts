import { Module } from '@nestjs/common';
import { ItemCacheService } from './item-cache.service';
import { ItemCatalogRepository } from './item-catalog.repository';
import { ItemOnlineRepository } from './item-online.repository';

@Module({
  providers: [ItemCatalogRepository, ItemOnlineRepository, ItemCacheService],
  exports: [ItemCacheService, ItemOnlineRepository],
})
export class ItemsModule {}
