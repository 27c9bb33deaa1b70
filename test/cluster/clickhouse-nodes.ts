import { ClickHouseService, clusterOptions, type ClusterOptions } from '@mmctr/clickhouse';
import { loadConfig } from '@mmctr/config';

const config = loadConfig();

/** A client of one ClickHouse server of the cluster; `database` is its default database. */
export const connectNode = (url: string, database?: string): ClickHouseService =>
  new ClickHouseService({
    url,
    database,
    username: config.CLICKHOUSE_USER,
    password: config.CLICKHOUSE_PASSWORD,
  });

/** Every server's HTTP endpoint (CLICKHOUSE_NODE_URLS in deploy/local/cluster.env). */
export const nodeUrls = (process.env.CLICKHOUSE_NODE_URLS ?? '').split(',').filter(Boolean);

/** The cluster the suites run on, refused unless it and at least `min` servers' endpoints (nodeUrls) are set. */
export function clickHouseCluster(min: number): ClusterOptions {
  const cluster = clusterOptions(config);
  if (!cluster || nodeUrls.length < min) {
    throw new Error(
      `CLICKHOUSE_CLUSTER and at least ${min} CLICKHOUSE_NODE_URLS must be set (deploy/local/cluster.env)`,
    );
  }
  return cluster;
}
