import { Module } from '@nestjs/common';
import { ApiKeyGuard } from '../auth/api-key.guard';
import { HistoryRepository } from '../history/history.repository';
import { ItemsModule } from '../items/items.module';
import { ModelModule } from '../model/model.module';
import { ScoreLogModule } from '../score-log/score-log.module';
import { ScoreController } from './score.controller';
import { ScoreService } from './score.service';

@Module({
  imports: [ModelModule, ItemsModule, ScoreLogModule],
  controllers: [ScoreController],
  providers: [ScoreService, HistoryRepository, ApiKeyGuard],
})
export class ScoringModule {}
