import { Controller, Inject } from '@nestjs/common';
import type Redis from 'ioredis';
import { ClickHouseService } from '@mmctr/clickhouse';
import { ReadinessController } from '@mmctr/observability';
import { redisHealth } from '@mmctr/online-store';
import { IngestConsumer } from '../ingest/ingest-consumer.service';
import { REDIS } from '../ingest/tokens';

/**
 * Ready when ClickHouse and Redis answer, the consumer is in its group, consumption is not stalled
 * (a commit within INGEST_STALL_TIMEOUT_MS whenever messages wait) and no store has been failing for
 * longer than INGEST_STORE_RETRY_DEADLINE_MS.
 */
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
    const { consumption, stores } = this.consumer.health();
    return {
      clickhouse: this.clickhouse.health(),
      redis: redisHealth(this.redis),
      kafka: { ok: this.consumer.ready },
      consumption,
      stores,
    };
  }
}
