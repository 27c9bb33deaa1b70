import { Controller, Get, HttpCode, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type Redis from 'ioredis';
import { ClickHouseService } from '@mmctr/clickhouse';
import { redisHealth } from '@mmctr/online-store';
import { IngestConsumer } from '../ingest/ingest-consumer.service';
import { REDIS } from '../ingest/tokens';

@Controller('health')
export class HealthController {
  constructor(
    @Inject(ClickHouseService) private readonly clickhouse: ClickHouseService,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(IngestConsumer) private readonly consumer: IngestConsumer,
  ) {}

  /** The process answers: nothing external is checked (a dependency outage must not restart us). */
  @Get('live')
  @HttpCode(200)
  live() {
    return { status: 'ok' };
  }

  /** Ready when ClickHouse and Redis answer and the consumer is in its group. */
  @Get('ready')
  async ready(@Res({ passthrough: true }) reply: FastifyReply) {
    const [clickhouse, redis] = await Promise.all([this.clickhouse.health(), redisHealth(this.redis)]);
    const kafka = { ok: this.consumer.ready };
    const ok = clickhouse.ok && redis.ok && kafka.ok;
    void reply.status(ok ? 200 : 503);
    return { status: ok ? 'ok' : 'unavailable', checks: { clickhouse, redis, kafka } };
  }
}
