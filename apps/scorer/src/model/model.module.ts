import { Module } from '@nestjs/common';
import { ModelManager } from './model-manager.service';
import { ModelRegistryRepository } from './model-registry.repository';

@Module({ providers: [ModelRegistryRepository, ModelManager], exports: [ModelManager] })
export class ModelModule {}
