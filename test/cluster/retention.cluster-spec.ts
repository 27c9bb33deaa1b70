import { randomBytes } from 'node:crypto';
import { MIGRATIONS_DIR, MigrationRunner, loadMigrations, type ClickHouseService } from '@mmctr/clickhouse';
import { RetentionRepository } from '../../tools/cli/src/retention.repository';
import { clickHouseCluster, connectNode, nodeUrls } from './clickhouse-nodes';
import { generateStore } from './fixtures';
import { replicated } from './replication';

/**
 * `mmctr retention` on the 2 x 2 cluster: a table's partitions are read from both shards and dropped
 * from every replica of each, and the drop is recorded once.
 */
const DB = `mmctr_retention_${Date.now()}_${randomBytes(3).toString('hex')}`;

describe('retention on the 2 x 2 ClickHouse cluster', () => {
  let nodes: ClickHouseService[];
  let clusterName: string;
  let retention: RetentionRepository;
  const store = generateStore(11);
  /** Rows of `table` on each node's own replica (its `_local` table). */
  const localRows = (table: string) =>
    Promise.all(
      nodes.map(async (n) =>
        Number((await n.query<{ n: string }>(`SELECT count() AS n FROM \`${DB}\`.${table}_local`))[0]!.n),
      ),
    );

  beforeAll(async () => {
    const cluster = clickHouseCluster(4);
    clusterName = cluster.name;
    nodes = nodeUrls.map((url) => connectNode(url));
    await new MigrationRunner(nodes[0]!, DB, loadMigrations(MIGRATIONS_DIR), undefined, cluster).migrate();
    for (const [i, table] of (['events', 'score_log'] as const).entries()) {
      await nodes[i]!.insert(`\`${DB}\`.${table}`, store[table]);
    }
    await replicated(nodes, DB);
    retention = new RetentionRepository(connectNode(nodeUrls[0]!, DB), DB, cluster);
  }, 180_000);

  afterAll(async () => {
    await retention?.close();
    await nodes?.[0]
      ?.command(`DROP DATABASE IF EXISTS \`${DB}\` ON CLUSTER ${clusterName}`)
      .catch(() => undefined);
    await Promise.all((nodes ?? []).map((n) => n.close()));
  });

  it('reads each partition summed over the shards, and drops it from every replica', async () => {
    const before = await localRows('events');
    // Both shards hold rows, and the replicas of a shard hold the same ones.
    expect(before[0]).toBeGreaterThan(0);
    expect(before[2]).toBeGreaterThan(0);
    expect([before[1], before[3]]).toEqual([before[0], before[2]]);

    const parts = await retention.partitions('events');
    const perDay = new Map<string, number>();
    for (const e of store.events) {
      const day = String(e.event_time).slice(0, 10).replaceAll('-', '');
      perDay.set(day, (perDay.get(day) ?? 0) + 1);
    }
    expect(parts.map((p) => [p.partitionId, p.rows])).toEqual([...perDay].sort());

    await retention.drop('events', parts[0]!);
    await replicated(nodes, DB);
    const remaining = parts[1]!.rows;
    const after = await localRows('events');
    expect(after[0]! + after[2]!).toBe(remaining);
    expect([after[1], after[3]]).toEqual([after[0], after[2]]);
    expect((await retention.partitions('events')).map((p) => p.partitionId)).toEqual([parts[1]!.partitionId]);
    // score_log is another table: untouched.
    expect((await localRows('score_log')).reduce((a, b) => a + b, 0) / 2).toBe(store.score_log.length);

    // One record, read back through the Distributed table from any node.
    const dropped = await retention.dropped();
    expect(dropped.map((d) => [d.table, d.partitionId, d.rows])).toEqual([
      ['events', parts[0]!.partitionId, parts[0]!.rows],
    ]);
  }, 180_000);
});
