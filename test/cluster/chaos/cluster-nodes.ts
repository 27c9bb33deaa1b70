import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Kafka } from 'kafkajs';
import type { Cluster } from 'ioredis';
import { withKafkaAdmin } from '@mmctr/kafka';

const run = promisify(execFile);
const SCRIPT = join(__dirname, 'cluster-node.sh');
// deploy/local/cluster/lib.sh: node n of a kind listens on the kind's base port + n.
const REDIS_BASE_PORT = 23400;

/** SIGKILLs a node of the loopback cluster (its whole process group): no shutdown hook runs. */
export async function killNode(service: string): Promise<void> {
  await run('bash', [SCRIPT, 'kill', service]);
}

/** Starts a killed node again on its own data and resolves once it answers. */
export async function startNode(service: string): Promise<void> {
  await run('bash', [SCRIPT, 'start', service], { timeout: 180_000 });
}

/** The broker leading `partition` of `topic`, as a cluster service name (KRaft node id n = kafka-n). */
export async function kafkaLeader(kafka: Kafka, topic: string, partition = 0): Promise<string> {
  return withKafkaAdmin(kafka, async (admin) => {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const leader = meta.topics[0]?.partitions.find((p) => p.partitionId === partition)?.leader;
    if (leader === undefined) throw new Error(`no leader for ${topic}/${partition}`);
    return `kafka-${leader}`;
  });
}

/** Whether every partition of `topic` has all its replicas in sync again. */
export async function fullyInSync(kafka: Kafka, topic: string): Promise<boolean> {
  return withKafkaAdmin(kafka, async (admin) => {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    return meta.topics[0]!.partitions.every((p) => p.isr.length === p.replicas.length);
  });
}

/** The Redis primary serving hash slot `slot`, as a cluster service name (port 2340n = redis-n). */
export async function redisPrimaryOf(redis: Cluster, slot: number): Promise<string> {
  const ranges = await redis.cluster('SLOTS');
  const range = ranges.find(([from, to]) => slot >= from && slot <= to);
  if (!range) throw new Error(`no Redis node serves slot ${slot}`);
  return redisService(range[2]![1]);
}

export const redisService = (port: number): string => `redis-${port - REDIS_BASE_PORT}`;

/** Every slot served by a primary that has a replica in sync: the cluster is redundant again. */
export async function redisRedundant(redis: Cluster): Promise<boolean> {
  const ranges = await redis.cluster('SLOTS');
  const covered = ranges.reduce((n, [from, to]) => n + to - from + 1, 0);
  return covered === 16_384 && ranges.every((r) => r.length >= 4);
}

/** `master` or `slave`: the role a Redis node of the cluster reports for itself. */
export async function redisRole(service: string): Promise<string> {
  const port = REDIS_BASE_PORT + Number(service.split('-')[1]);
  const { stdout } = await run('redis-cli', ['-p', String(port), 'role']);
  return stdout.split('\n')[0]!.trim();
}
