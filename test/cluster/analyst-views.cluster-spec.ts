import { randomBytes } from 'node:crypto';
import { MIGRATIONS_DIR, MigrationRunner, loadMigrations, type ClickHouseService } from '@mmctr/clickhouse';
import { clickHouseCluster, connectNode, nodeUrls } from './clickhouse-nodes';
import { generateStore, type StoreRows } from './fixtures';
import { replicated } from './replication';

/**
 * The same events, score log, items and ingest batches written to one server's plain database and,
 * through the Distributed tables of different nodes, to the cluster's database; every copy written
 * twice (a redelivery), the two copies through different nodes. Every analyst view must answer the
 * same on each node of the cluster as on the single server.
 */
const suffix = `${Date.now()}_${randomBytes(3).toString('hex')}`;
const CLUSTER_DB = `mmctr_cluster_${suffix}`;
const SINGLE_DB = `mmctr_single_${suffix}`;

/** Numbers to 12 significant digits: sums over shards add floats in another order. */
const normalise = (rows: Record<string, unknown>[]) =>
  rows.map((r) =>
    Object.fromEntries(
      Object.entries(r).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toPrecision(12)) : v]),
    ),
  );

async function viewRows(ch: ClickHouseService, db: string, view: string): Promise<Record<string, unknown>[]> {
  const columns = await ch.query<{ name: string }>(
    'SELECT name FROM system.columns WHERE database = {db:String} AND table = {view:String}',
    { db, view },
  );
  const order = columns.map((c) => `\`${c.name}\``).join(', ');
  return normalise(await ch.query(`SELECT * FROM \`${db}\`.\`${view}\` ORDER BY ${order}`));
}

/**
 * Writes each table's rows twice: batches round-robin over `writers`, the second copy shifted by one.
 * Without insert de-duplication: a replicated table drops a block identical to one it already has (here
 * a copy's rows of one partition that rand() sent to the same shard as the first copy's), which one
 * server's tables never do, and the copies are what the views must count or collapse alike.
 */
async function writeTwice(writers: ClickHouseService[], db: string, store: StoreRows): Promise<void> {
  for (const [table, rows] of Object.entries(store) as [string, object[]][]) {
    for (const copy of [0, 1]) {
      for (let at = 0, batch = 0; at < rows.length; at += 200, batch++) {
        const writer = writers[(batch + copy) % writers.length]!;
        await writer.client.insert({
          table: `\`${db}\`.${table}`,
          values: rows.slice(at, at + 200),
          format: 'JSONEachRow',
          clickhouse_settings: { insert_deduplicate: 0 },
        });
      }
    }
  }
}

describe('analyst views on the 2 x 2 ClickHouse cluster', () => {
  let nodes: ClickHouseService[];
  let clusterName: string;
  let single: ClickHouseService;
  let views: string[];
  const store = generateStore(7);

  beforeAll(async () => {
    const cluster = clickHouseCluster(2);
    clusterName = cluster.name;
    nodes = nodeUrls.map((url) => connectNode(url));
    const health = await Promise.all(nodes.map((n) => n.health()));
    const down = nodeUrls.filter((_, i) => !health[i]!.ok);
    if (down.length > 0)
      throw new Error(`cluster nodes not answering: ${down.join(', ')}; run deploy/local/up --cluster`);
    single = nodes[0]!;
    const migrations = loadMigrations(MIGRATIONS_DIR);
    await new MigrationRunner(nodes[0]!, CLUSTER_DB, migrations, undefined, cluster).migrate();
    await new MigrationRunner(single, SINGLE_DB, migrations).migrate();
    await writeTwice(nodes, CLUSTER_DB, store);
    await writeTwice([single], SINGLE_DB, store);
    await replicated(nodes, CLUSTER_DB);
    const rows = await single.query<{ name: string }>(
      "SELECT name FROM system.tables WHERE database = {db:String} AND engine = 'View' ORDER BY name",
      { db: SINGLE_DB },
    );
    views = rows.map((r) => r.name);
  });

  afterAll(async () => {
    if (!nodes) return;
    await nodes[0]!
      .command(`DROP DATABASE IF EXISTS \`${CLUSTER_DB}\` ON CLUSTER ${clusterName}`)
      .catch(() => undefined);
    await single.command(`DROP DATABASE IF EXISTS \`${SINGLE_DB}\``).catch(() => undefined);
    await Promise.all(nodes.map((n) => n.close()));
  });

  it('stores each event once per shard pair: exact counts through every node', async () => {
    const distinct = new Set(store.events.map((e) => e.event_id)).size;
    for (const node of nodes) {
      const [r] = await node.query<{ n: string; ids: string }>(
        `SELECT count() AS n, uniqExact(event_id) AS ids FROM \`${CLUSTER_DB}\`.events FINAL`,
      );
      expect({ n: Number(r!.n), ids: Number(r!.ids) }).toEqual({ n: distinct, ids: distinct });
    }
    // Each shard's own table collapses its copies: the sharding key keeps an event's copies on one
    // shard, so the shards' counts add up to the distinct events, and both shards hold some.
    const perShard = new Map<string, number>();
    for (const node of nodes) {
      const [m] = await node.query<{ shard: string }>(
        "SELECT substitution AS shard FROM system.macros WHERE macro = 'shard'",
      );
      if (perShard.has(m!.shard)) continue;
      const [r] = await node.query<{ n: string }>(
        `SELECT count() AS n FROM \`${CLUSTER_DB}\`.events_local FINAL`,
      );
      perShard.set(m!.shard, Number(r!.n));
    }
    expect(perShard.size).toBe(2);
    expect([...perShard.values()].every((n) => n > 0)).toBe(true);
    expect([...perShard.values()].reduce((a, b) => a + b, 0)).toBe(distinct);
  });

  it('every view answers on every node as on one server', async () => {
    expect(views.length).toBeGreaterThan(20);
    for (const view of views) {
      const expected = await viewRows(single, SINGLE_DB, view);
      for (const [i, node] of nodes.entries()) {
        const actual = await viewRows(node, CLUSTER_DB, view);
        expect({ view, node: nodeUrls[i], rows: actual }).toEqual({
          view,
          node: nodeUrls[i],
          rows: expected,
        });
      }
    }
  });

  it('the views are not trivially empty', async () => {
    const nonEmpty = [];
    for (const view of views) if ((await viewRows(single, SINGLE_DB, view)).length > 0) nonEmpty.push(view);
    expect(nonEmpty).toEqual(
      expect.arrayContaining(['impressions_labeled', 'score_calibration', 'daily_ctr_by_category']),
    );
  });
});
