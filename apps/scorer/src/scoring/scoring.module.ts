import { Module } from '@nestjs/common';
import { AggregatesModule } from '../aggregates/aggregates.module';
import { ApiKeyGuard } from '../auth/api-key.guard';
import { EntityCacheService } from '../entities/entity-cache.service';
import { EntityOnlineRepository } from '../entities/entity-online.repository';
import { HistoryRepository } from '../history/history.repository';
import { ItemsModule } from '../items/items.module';
import { ModelModule } from '../model/model.module';
import { ScoreLogModule } from '../score-log/score-log.module';
import { ScoreController } from './score.controller';
import { ScoreService } from './score.service';

@Module({
  imports: [ModelModule, ItemsModule, ScoreLogModule, AggregatesModule],
  controllers: [ScoreController],
  providers: [ScoreService, HistoryRepository, EntityCacheService, EntityOnlineRepository, ApiKeyGuard],
})
export class ScoringModule {}
