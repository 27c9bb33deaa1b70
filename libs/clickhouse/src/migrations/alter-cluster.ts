import type { ClickHouseService } from '../clickhouse.service';
import { ClusterDdlError, type ClusterOptions } from './cluster-ddl';

interface ClusterHost {
  cluster: string;
  shard_num: number | string;
  host_address: string;
  port: number | string;
}

/**
 * Problems with `cluster.alterCluster` as the servers define it: it must hold exactly one replica of each
 * shard of `cluster.name`, shard for shard. A shard it missed would never get a column, and one listed
 * with both replicas would bring back the race the alter cluster avoids. Empty: fine (or not set).
 */
export function alterClusterProblems(cluster: ClusterOptions, hosts: readonly ClusterHost[]): string[] {
  const alter = cluster.alterCluster;
  if (!alter || alter === cluster.name) return [];
  const shardsOf = (name: string) => {
    const shards = new Map<number, string[]>();
    for (const h of hosts.filter((x) => x.cluster === name)) {
      const shard = Number(h.shard_num);
      shards.set(shard, [...(shards.get(shard) ?? []), `${h.host_address}:${h.port}`]);
    }
    return shards;
  };
  const full = shardsOf(cluster.name);
  const subset = shardsOf(alter);
  if (full.size === 0) return [`cluster '${cluster.name}' is not defined on this server (system.clusters)`];
  if (subset.size === 0) return [`alter cluster '${alter}' is not defined on this server (system.clusters)`];
  const problems: string[] = [];
  for (const [shard, replicas] of full) {
    const listed = subset.get(shard) ?? [];
    if (listed.length !== 1) {
      problems.push(`shard ${shard}: '${alter}' lists ${listed.length} replicas, not 1`);
    } else if (!replicas.includes(listed[0]!)) {
      problems.push(
        `shard ${shard}: '${alter}' lists ${listed[0]}, not a replica of that shard of '${cluster.name}'`,
      );
    }
  }
  for (const shard of subset.keys()) {
    if (!full.has(shard)) problems.push(`shard ${shard}: '${alter}' has it, '${cluster.name}' does not`);
  }
  return problems;
}

/** Throws, naming each problem, unless the alter cluster holds one replica of each shard (see above). */
export async function assertAlterCluster(
  clickhouse: Pick<ClickHouseService, 'query'>,
  cluster: ClusterOptions,
): Promise<void> {
  if (!cluster.alterCluster || cluster.alterCluster === cluster.name) return;
  const hosts = await clickhouse.query<ClusterHost>(
    `SELECT cluster, shard_num, host_address, port FROM system.clusters
     WHERE cluster IN ({name:String}, {alter:String})`,
    { name: cluster.name, alter: cluster.alterCluster },
  );
  const problems = alterClusterProblems(cluster, hosts);
  if (problems.length > 0) {
    throw new ClusterDdlError(
      `CLICKHOUSE_ALTER_CLUSTER '${cluster.alterCluster}' must list one replica of each shard of ` +
        `'${cluster.name}':\n  ${problems.join('\n  ')}`,
    );
  }
}
