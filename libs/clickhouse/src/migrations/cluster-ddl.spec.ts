import { loadConfig } from '@mmctr/config';
import { quoteIdentifier } from '../query-binder';
import {
  ClusterDdlError,
  SHARDING_KEYS,
  clusterLedgerDdl,
  clusterOptions,
  clusterStatements,
  type ClusterOptions,
} from './cluster-ddl';
import type { ClickHouseService } from '../clickhouse.service';
import {
  DATABASE_MARKER,
  MIGRATIONS_DIR,
  MigrationRunner,
  loadMigrations,
  renderMigration,
} from './migration-runner';
import { splitSqlStatements } from './sql-splitter';

const DB = 'mmctr_prod';
const CLUSTER: ClusterOptions = { name: 'ctr_cluster' };
const migrations = loadMigrations(MIGRATIONS_DIR);
const each = migrations.map((m) => [`${String(m.version).padStart(4, '0')}_${m.name}`, m] as const);

/** `CREATE TABLE ... <name> (...) ENGINE = <engine>[(<args>)] <tail>` of a single-node statement. */
interface SourceTable {
  name: string;
  columns: string;
  engine: string;
  args: string;
  tail: string;
}
const TABLE =
  /^CREATE TABLE IF NOT EXISTS \{\{database\}\}\.(\w+)\s*(\([\s\S]*\))\s*ENGINE = (\w+)(?:\(([^)]*)\))?([\s\S]*)$/;
function sourceTables(sql: string): SourceTable[] {
  return splitSqlStatements(sql).flatMap((s) => {
    const m = TABLE.exec(s);
    return m ? [{ name: m[1]!, columns: m[2]!, engine: m[3]!, args: m[4] ?? '', tail: m[5]! }] : [];
  });
}
const viewNames = (sql: string) =>
  splitSqlStatements(sql).flatMap(
    (s) => /^CREATE VIEW IF NOT EXISTS \{\{database\}\}\.(\w+)/.exec(s)?.[1] ?? [],
  );

describe('renderMigration on one server', () => {
  it.each(each)('%s renders byte-identical to the split file with the database quoted', (_name, m) => {
    // What the runner sent before cluster rendering existed: split, then the marker replaced.
    const before = splitSqlStatements(m.sql).map((s) => s.split(DATABASE_MARKER).join(quoteIdentifier(DB)));
    expect(renderMigration(m, DB)).toEqual(before);
    expect(renderMigration(m, DB).join('\n')).not.toMatch(/ON CLUSTER|Replicated|Distributed|_local\b/);
  });
});

describe('renderMigration on a cluster', () => {
  it.each(each)('%s: every DDL statement runs ON CLUSTER, no table is left unreplicated', (_name, m) => {
    const out = renderMigration(m, DB, CLUSTER);
    expect(out.length).toBeGreaterThan(0);
    // Data statements (0015's back-fill) pass unchanged: they go through the Distributed tables.
    for (const s of out.filter((x) => !x.startsWith('INSERT INTO '))) {
      expect(s).not.toContain(DATABASE_MARKER);
      expect(s).toMatch(
        /^(CREATE|ALTER|DROP) (TABLE|VIEW) (IF (NOT )?EXISTS )?`mmctr_prod`\.\w+ ON CLUSTER ctr_cluster\b/,
      );
      const engine = /\bENGINE = (\w+)/.exec(s)?.[1];
      if (engine) expect(engine).toMatch(/^(Replicated\w*MergeTree|Distributed)$/);
    }
  });

  it.each(each)(
    '%s: each MergeTree table becomes <t>_local (replicated) plus a Distributed <t>',
    (_name, m) => {
      const out = renderMigration(m, DB, CLUSTER);
      // Every CREATE TABLE of the file is a MergeTree table, and each got its Distributed table.
      expect(sourceTables(m.sql)).toHaveLength((m.sql.match(/CREATE TABLE/g) ?? []).length);
      const created = out.filter(
        (s) => s.startsWith('CREATE TABLE IF NOT EXISTS') && s.includes('= Distributed('),
      );
      expect(created).toHaveLength(sourceTables(m.sql).length);
      for (const t of sourceTables(m.sql)) {
        const local = out.find((s) =>
          s.startsWith(`CREATE TABLE IF NOT EXISTS \`mmctr_prod\`.${t.name}_local `),
        );
        expect(local).toBeDefined();
        const path = `'/clickhouse/tables/{shard}/mmctr_prod/${t.name}', '{replica}'`;
        // Same columns, original engine arguments after the replication ones, same PARTITION BY / ORDER BY.
        expect(local).toContain(t.columns);
        expect(local).toContain(
          `ENGINE = Replicated${t.engine}(${path}${t.args ? `, ${t.args}` : ''})${t.tail}`,
        );
        const distributed = out.find((s) =>
          s.startsWith(`CREATE TABLE IF NOT EXISTS \`mmctr_prod\`.${t.name} `),
        );
        expect(distributed).toBe(
          `CREATE TABLE IF NOT EXISTS \`mmctr_prod\`.${t.name} ON CLUSTER ctr_cluster AS \`mmctr_prod\`.${t.name}_local\n` +
            `ENGINE = Distributed(ctr_cluster, 'mmctr_prod', '${t.name}_local', ${SHARDING_KEYS[t.name] ?? 'rand()'})`,
        );
        // The shards' table exists before the Distributed table that routes to it.
        expect(out.indexOf(local!)).toBeLessThan(out.indexOf(distributed!));
      }
    },
  );

  it.each(each)('%s: views keep their SELECT and read the Distributed tables', (_name, m) => {
    const out = renderMigration(m, DB, CLUSTER);
    for (const view of viewNames(m.sql)) {
      const source = splitSqlStatements(m.sql).find((s) => s.includes(`{{database}}.${view} AS`))!;
      const select = source
        .slice(source.indexOf(`.${view} AS`) + view.length + 4)
        .split(DATABASE_MARKER)
        .join('`mmctr_prod`');
      expect(out).toContain(
        `CREATE VIEW IF NOT EXISTS \`mmctr_prod\`.${view} ON CLUSTER ctr_cluster AS${select}`,
      );
      expect(select).not.toContain('_local');
    }
  });

  it('shards each table by the key that keeps its de-duplication on one shard', () => {
    const all = migrations.flatMap((m) => renderMigration(m, DB, CLUSTER)).join('\n');
    expect(all).toContain(`'events_local', cityHash64(user_id))`);
    expect(all).toContain(`'score_log_local', cityHash64(user_id))`);
    expect(all).toContain(`'items_local', cityHash64(item_id))`);
    expect(all).toContain(`'item_embeddings_local', cityHash64(item_id))`);
    expect(all).toContain(`'ingest_batches_local', rand())`);
  });

  it('applies a column ALTER to the shards, then recreates the Distributed table over them (0009)', () => {
    const m = migrations.find((x) => x.version === 9)!;
    expect(renderMigration(m, DB, CLUSTER)).toEqual([
      'ALTER TABLE `mmctr_prod`.score_log_local ON CLUSTER ctr_cluster ADD COLUMN history_ts_ms Array(Int64) AFTER history_item_ids',
      'DROP TABLE IF EXISTS `mmctr_prod`.score_log ON CLUSTER ctr_cluster',
      'CREATE TABLE `mmctr_prod`.score_log ON CLUSTER ctr_cluster AS `mmctr_prod`.score_log_local\n' +
        "ENGINE = Distributed(ctr_cluster, 'mmctr_prod', 'score_log_local', cityHash64(user_id))",
    ]);
  });
});

describe('clusterStatements', () => {
  const render = (sql: string, opts: ClusterOptions = CLUSTER) => clusterStatements(sql, DB, opts);

  it('sends partition ALTERs to the shards only, and drops both tables', () => {
    expect(render('ALTER TABLE {{database}}.events DROP PARTITION 20260101')).toEqual([
      'ALTER TABLE {{database}}.events_local ON CLUSTER ctr_cluster DROP PARTITION 20260101',
    ]);
    expect(render('DROP TABLE IF EXISTS {{database}}.events')).toEqual([
      'DROP TABLE IF EXISTS {{database}}.events ON CLUSTER ctr_cluster',
      'DROP TABLE IF EXISTS {{database}}.events_local ON CLUSTER ctr_cluster',
    ]);
  });

  it('sends replicated ALTERs to the alter cluster, and everything else to the whole cluster', () => {
    const opts = { ...CLUSTER, alterCluster: 'ctr_first_replicas' };
    expect(render('ALTER TABLE {{database}}.events DROP PARTITION 20260101', opts)).toEqual([
      'ALTER TABLE {{database}}.events_local ON CLUSTER ctr_first_replicas DROP PARTITION 20260101',
    ]);
    expect(render('ALTER TABLE {{database}}.score_log ADD COLUMN x UInt8', opts)).toEqual([
      'ALTER TABLE {{database}}.score_log_local ON CLUSTER ctr_first_replicas ADD COLUMN x UInt8',
      'DROP TABLE IF EXISTS {{database}}.score_log ON CLUSTER ctr_cluster',
      'CREATE TABLE {{database}}.score_log ON CLUSTER ctr_cluster AS {{database}}.score_log_local\n' +
        "ENGINE = Distributed(ctr_cluster, 'mmctr_prod', 'score_log_local', cityHash64(user_id))",
    ]);
    const creates = render('CREATE TABLE {{database}}.t (x UInt8) ENGINE = MergeTree ORDER BY x', opts);
    expect(creates.every((sql) => sql.includes('ON CLUSTER ctr_cluster '))).toBe(true);
    expect(() =>
      render('ALTER TABLE {{database}}.t DELETE WHERE 1', { ...opts, alterCluster: 'x y' }),
    ).toThrow(/'x y' must be a plain identifier/);
  });

  it('takes a declared sharding key, keeps empty engine arguments empty, and leaves other engines local', () => {
    const [local, dist] = render(
      'CREATE TABLE {{database}}.clicks_by_day (day Date, n UInt64) ENGINE = SummingMergeTree() ORDER BY day',
      { name: 'c1', shardingKeys: { clicks_by_day: 'toYYYYMMDD(day)' } },
    );
    expect(local).toContain(
      "ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/mmctr_prod/clicks_by_day', '{replica}') ORDER BY day",
    );
    expect(dist).toBe(
      'CREATE TABLE {{database}}.clicks_by_day ON CLUSTER c1 AS {{database}}.clicks_by_day_local\n' +
        "ENGINE = Distributed(c1, 'mmctr_prod', 'clicks_by_day_local', toYYYYMMDD(day))",
    );
    expect(render('CREATE TABLE IF NOT EXISTS {{database}}.tmp (x UInt8) ENGINE = Memory')).toEqual([
      'CREATE TABLE IF NOT EXISTS {{database}}.tmp ON CLUSTER ctr_cluster (x UInt8) ENGINE = Memory',
    ]);
  });

  it('refuses DDL it cannot place and cluster names that are not identifiers', () => {
    expect(() => render('RENAME TABLE {{database}}.a TO {{database}}.b')).toThrow(ClusterDdlError);
    expect(() => render('CREATE TABLE events (x UInt8) ENGINE = MergeTree ORDER BY x')).toThrow(
      /cannot render for a cluster/,
    );
    expect(() => render('CREATE VIEW {{database}}.v AS SELECT 1', { name: 'a; DROP' })).toThrow(
      /must be a plain identifier/,
    );
  });

  it('creates the database and a cluster-wide replicated ledger', () => {
    expect(clusterLedgerDdl(DB, CLUSTER)).toEqual([
      'CREATE DATABASE IF NOT EXISTS `mmctr_prod` ON CLUSTER ctr_cluster',
      'CREATE TABLE IF NOT EXISTS `mmctr_prod`.schema_migrations ON CLUSTER ctr_cluster ' +
        '(version UInt32, name String, checksum String, applied_at DateTime) ' +
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/global/mmctr_prod/schema_migrations', '{replica}') ORDER BY version",
    ]);
  });
});

describe('CLICKHOUSE_CLUSTER', () => {
  const base = {
    KAFKA_BROKERS: 'localhost:9092',
    CLICKHOUSE_URL: 'http://localhost:8123',
    CLICKHOUSE_DATABASE: 'mmctr',
    CLICKHOUSE_USER: 'default',
    REDIS_URL: 'redis://localhost:6379',
  };
  it('is optional, and must name a cluster with a plain identifier', () => {
    expect(loadConfig(base).CLICKHOUSE_CLUSTER).toBeUndefined();
    expect(loadConfig({ ...base, CLICKHOUSE_CLUSTER: 'ctr_cluster' }).CLICKHOUSE_CLUSTER).toBe('ctr_cluster');
    expect(() => loadConfig({ ...base, CLICKHOUSE_CLUSTER: 'prod-1' })).toThrow(
      /CLICKHOUSE_CLUSTER: must be a plain identifier/,
    );
  });

  it('takes an alter cluster only beside a cluster, and turns both into cluster options', () => {
    const both = loadConfig({ ...base, CLICKHOUSE_CLUSTER: 'c', CLICKHOUSE_ALTER_CLUSTER: 'c_first' });
    expect(clusterOptions(both)).toEqual({ name: 'c', alterCluster: 'c_first' });
    expect(clusterOptions(loadConfig({ ...base, CLICKHOUSE_CLUSTER: 'c' }))).toEqual({ name: 'c' });
    expect(clusterOptions(loadConfig(base))).toBeUndefined();
    expect(() => loadConfig({ ...base, CLICKHOUSE_ALTER_CLUSTER: 'c_first' })).toThrow(
      /CLICKHOUSE_ALTER_CLUSTER: needs CLICKHOUSE_CLUSTER/,
    );
    expect(() => clusterOptions({ CLICKHOUSE_ALTER_CLUSTER: 'c_first' })).toThrow(
      "alter cluster 'c_first' needs a cluster (CLICKHOUSE_CLUSTER, --cluster)",
    );
  });
});

describe('MigrationRunner with a cluster', () => {
  it('creates the ledger on the cluster and sends each migration as cluster DDL, in order', async () => {
    const sent: string[] = [];
    const ledger: unknown[] = [];
    // Records what the runner sends; the statements themselves are checked above and on servers elsewhere.
    const admin = {
      command: async (sql: string) => void sent.push(sql),
      query: async () => [],
      insert: async (_table: string, rows: unknown[]) => void ledger.push(...rows),
    } as unknown as ClickHouseService;
    const result = await new MigrationRunner(admin, DB, migrations, undefined, CLUSTER).migrate();
    expect(result.applied).toHaveLength(migrations.length);
    expect(sent).toEqual([
      ...clusterLedgerDdl(DB, CLUSTER),
      ...migrations.flatMap((m) => renderMigration(m, DB, CLUSTER)),
    ]);
    expect(ledger).toHaveLength(migrations.length);
  });
});
