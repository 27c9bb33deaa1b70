import { Module } from '@nestjs/common';
import { ItemsModule } from '../items/items.module';
import { ModelModule } from '../model/model.module';
import { HealthController } from './health.controller';

@Module({ imports: [ModelModule, ItemsModule], controllers: [HealthController] })
export class HealthModule {}
