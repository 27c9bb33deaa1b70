import { Controller, Inject } from '@nestjs/common';
import type Redis from 'ioredis';
import { ClickHouseService } from '@mmctr/clickhouse';
import { ReadinessController } from '@mmctr/observability';
import { redisHealth } from '@mmctr/online-store';
import { EmbeddingWorker } from '../embedding/embedding.worker';
import { REDIS } from '../tokens';

/** Ready when ClickHouse and Redis answer and the worker consumes (models load before start-up). */
@Controller('health')
export class HealthController extends ReadinessController {
  constructor(
    @Inject(ClickHouseService) private readonly clickhouse: ClickHouseService,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(EmbeddingWorker) private readonly worker: EmbeddingWorker,
  ) {
    super();
  }

  protected checks() {
    return {
      clickhouse: this.clickhouse.health(),
      redis: redisHealth(this.redis),
      worker: { ok: this.worker.running },
    };
  }
}
