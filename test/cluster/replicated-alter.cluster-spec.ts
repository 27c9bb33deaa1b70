import { randomBytes } from 'node:crypto';
import {
  assertAlterCluster,
  clusterStatements,
  quoteIdentifier,
  type ClickHouseService,
  type ClusterOptions,
} from '@mmctr/clickhouse';
import { clickHouseCluster, connectNode, nodeUrls } from './clickhouse-nodes';
import { replicated } from './replication';

/**
 * Column ALTERs of a replicated table in a row, as a long run of migrations or feature-repository
 * applies send them. With every replica in the ON CLUSTER list, ClickHouse 18.16 ran such an ALTER on
 * both replicas of a shard at the 6th, 7th and 13th ALTER of three runs here (a fourth ran 30 without),
 * and that server's DDL worker then stopped for good; through the alter cluster (one replica per shard)
 * each runs once per shard, and replication carries it to the other replica.
 */
const DB = `mmctr_alter_${Date.now()}_${randomBytes(3).toString('hex')}`;
const ALTERS = 100;

describe('replicated ALTERs on the 2 x 2 ClickHouse cluster', () => {
  let nodes: ClickHouseService[];
  let cluster: ClusterOptions;
  const run = async (sql: string) => {
    for (const s of clusterStatements(sql, DB, cluster)) {
      await nodes[0]!.command(s.replaceAll('{{database}}', quoteIdentifier(DB)));
    }
  };
  // In order (18.16's system.columns has no position).
  const columns = async (n: ClickHouseService, table: string) =>
    (await n.query<{ name: string }>(`DESCRIBE TABLE ${quoteIdentifier(DB)}.${table}`)).map((c) => c.name);

  beforeAll(async () => {
    cluster = clickHouseCluster(4);
    if (!cluster.alterCluster)
      throw new Error('CLICKHOUSE_ALTER_CLUSTER must be set (deploy/local/cluster.env)');
    nodes = nodeUrls.map((url) => connectNode(url));
    await nodes[0]!.command(`CREATE DATABASE ${quoteIdentifier(DB)} ON CLUSTER ${cluster.name}`);
  });

  afterAll(async () => {
    if (!nodes) return;
    await nodes[0]!
      .command(`DROP DATABASE IF EXISTS ${quoteIdentifier(DB)} ON CLUSTER ${cluster.name}`)
      .catch(() => undefined);
    await Promise.all(nodes.map((n) => n.close()));
  });

  it('the loopback alter cluster holds one replica of each shard', async () => {
    await expect(assertAlterCluster(nodes[0]!, cluster)).resolves.toBeUndefined();
  });

  it(`applies ${ALTERS} column ALTERs once per shard, reaches every replica, and leaves every DDL worker running`, async () => {
    await run('CREATE TABLE {{database}}.t (k UInt64) ENGINE = MergeTree ORDER BY k');
    const added = Array.from({ length: ALTERS }, (_, i) => `c${i + 1}`);
    for (const c of added) await run(`ALTER TABLE {{database}}.t ADD COLUMN ${c} UInt8`);
    await replicated(nodes, DB);

    for (const n of nodes) {
      expect(await columns(n, 't_local')).toEqual(['k', ...added]);
      expect(await columns(n, 't')).toEqual(['k', ...added]);
    }
    // A statement every server must run: it returns only once all four DDL workers have run it.
    await nodes[0]!.command(
      `CREATE TABLE ${quoteIdentifier(DB)}.probe ON CLUSTER ${cluster.name} (x UInt8) ENGINE = Memory`,
    );
    for (const n of nodes) expect(await columns(n, 'probe')).toEqual(['x']);
  }, 300_000);
});
