import { readyWhenAll, type DependencyCheck, type ReadinessProbe } from '@mmctr/observability';
import type { IngestConsumer } from '../ingest/ingest-consumer.service';

type Pinged = { ping(): DependencyCheck | Promise<DependencyCheck> };

/**
 * Ready when ClickHouse, Redis and Kafka answer through their repositories (Kafka: the consumer is in
 * its group), consumption is not stalled (a commit within INGEST_STALL_TIMEOUT_MS whenever messages
 * wait) and no store has been failing for longer than INGEST_STORE_RETRY_DEADLINE_MS.
 */
export function ingestReadiness(
  repositories: { clickhouse: Pinged; redis: Pinged; kafka: Pinged },
  consumer: Pick<IngestConsumer, 'health'>,
): ReadinessProbe {
  return () => {
    const { consumption, stores } = consumer.health();
    return readyWhenAll({
      clickhouse: () => repositories.clickhouse.ping(),
      redis: () => repositories.redis.ping(),
      kafka: () => repositories.kafka.ping(),
      consumption: () => consumption,
      stores: () => stores,
    })();
  };
}
