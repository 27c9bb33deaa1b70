import { Module } from '@nestjs/common';
import { ItemsModule } from '../items/items.module';
import { InferencePoolService } from './inference-pool.service';
import { ModelLoader } from './model-loader';
import { ModelManager } from './model-manager.service';
import { ModelRegistryRepository } from './model-registry.repository';

@Module({
  imports: [ItemsModule],
  providers: [ModelRegistryRepository, InferencePoolService, ModelLoader, ModelManager],
  exports: [ModelManager],
})
export class ModelModule {}
