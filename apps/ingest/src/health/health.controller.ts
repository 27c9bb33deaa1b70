import { Controller, Inject } from '@nestjs/common';
import type Redis from 'ioredis';
import { ClickHouseService } from '@mmctr/clickhouse';
import { ReadinessController } from '@mmctr/observability';
import { redisHealth } from '@mmctr/online-store';
import { IngestConsumer } from '../ingest/ingest-consumer.service';
import { REDIS } from '../ingest/tokens';

/** Ready when ClickHouse and Redis answer and the consumer is in its group. */
@Controller('health')
export class HealthController extends ReadinessController {
  constructor(
    @Inject(ClickHouseService) private readonly clickhouse: ClickHouseService,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(IngestConsumer) private readonly consumer: IngestConsumer,
  ) {
    super();
  }

  protected checks() {
    return {
      clickhouse: this.clickhouse.health(),
      redis: redisHealth(this.redis),
      kafka: { ok: this.consumer.ready },
    };
  }
}
