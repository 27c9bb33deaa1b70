import { Module } from '@nestjs/common';
import { ClickHouseService } from '@mmctr/clickhouse';
import { FEATURE_REPO, type FeatureRepo } from '@mmctr/feature-repo';
import { EmbedderCoreModule } from '../app.module';
import type { ModelSet } from '../inference/model-manifest';
import { EntityEmbeddingRepository } from '../storage/entity-embedding.repository';
import { EntitySnapshotRepository } from '../storage/entity-snapshot.repository';
import { MODEL_SET } from '../tokens';
import { EntityBackfillService } from './entity-backfill.service';
import { EntityEmbeddingService, EntityEmbeddings } from './entity-embedding.service';

/**
 * The entity embeddings' backfill on top of the (global) embedding providers: import it next to
 * EmbedderCoreModule or AppModule.
 */
@Module({
  providers: [
    {
      provide: EntitySnapshotRepository,
      inject: [ClickHouseService],
      useFactory: (ch: ClickHouseService) => new EntitySnapshotRepository(ch),
    },
    {
      provide: EntityBackfillService,
      inject: [
        FEATURE_REPO,
        EntityEmbeddings,
        EntitySnapshotRepository,
        EntityEmbeddingRepository,
        EntityEmbeddingService,
        MODEL_SET,
      ],
      useFactory: (
        repo: FeatureRepo,
        declared: EntityEmbeddings,
        snapshots: EntitySnapshotRepository,
        rows: EntityEmbeddingRepository,
        service: EntityEmbeddingService,
        models: ModelSet,
      ) => new EntityBackfillService(repo, declared, snapshots, rows, service, models.text.id),
    },
  ],
  exports: [EntityBackfillService],
})
export class EntityBackfillModule {}

/** What `mmctr embed --entity` runs: the embedder's core (no queue consumer) and the backfill. */
@Module({ imports: [EmbedderCoreModule, EntityBackfillModule] })
export class EntityBackfillCliModule {}
