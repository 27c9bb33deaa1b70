import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClickHouseService } from '../clickhouse.service';
import { quoteIdentifier } from '../query-binder';
import { assertAlterCluster } from './alter-cluster';
import { clusterStatements, clusterLedgerDdl, type ClusterOptions } from './cluster-ddl';
import { splitSqlStatements } from './sql-splitter';

/** The repository's migrations/ folder, which the migrate CLI, the tests and the benches apply. */
export const MIGRATIONS_DIR = join(__dirname, '..', '..', '..', '..', 'migrations');

export interface Migration {
  version: number;
  name: string;
  checksum: string;
  /**
   * Checksums of earlier texts of this file that databases may have recorded, declared in the file as
   * `-- previous checksum <sha256> (why)`: only for edits that keep the schema the same (a portability
   * fix), so a database migrated with the old text is still up to date.
   */
  previousChecksums: string[];
  sql: string;
}

export interface MigrationResult {
  applied: Migration[];
  alreadyApplied: number;
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;
/** Migrations name the target database with this marker; it is replaced by the quoted name. */
export const DATABASE_MARKER = '{{database}}';
const PREVIOUS_CHECKSUM = /^--\s*previous checksum ([0-9a-f]{64})\b/gm;

export function loadMigrations(dir: string): Migration[] {
  const migrations = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .map((file) => {
      const m = FILE_NAME.exec(file);
      if (!m) throw new MigrationError(`migration file '${file}' must be named NNNN_snake_case.sql`);
      const sql = readFileSync(join(dir, file), 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex');
      const previousChecksums = [...sql.matchAll(PREVIOUS_CHECKSUM)].map((p) => p[1]!);
      return { version: Number(m[1]), name: m[2]!, checksum, previousChecksums, sql };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (i > 0 && migrations[i - 1]!.version === m.version) {
      throw new MigrationError(`two migrations share version ${m.version}`);
    }
  });
  return migrations;
}

/**
 * The statements the runner sends for one migration file into `database`: split on `;`, the database
 * marker replaced by the quoted name. With a cluster, each statement is rewritten as cluster DDL
 * (see cluster-ddl.ts); without one, the statements are the file's own.
 */
export function renderMigration(migration: Migration, database: string, cluster?: ClusterOptions): string[] {
  const db = quoteIdentifier(database);
  return splitSqlStatements(migration.sql).flatMap((statement) =>
    (cluster ? clusterStatements(statement, database, cluster) : [statement]).map((s) =>
      s.split(DATABASE_MARKER).join(db),
    ),
  );
}

/**
 * Applies numbered SQL files once each, recording version and checksum in `schema_migrations`.
 * Refuses to run if an applied file was edited or removed. Runs on 18.16 and modern servers: the
 * ledger is a plain MergeTree. CREATE statements are idempotent (IF NOT EXISTS), so a file that
 * failed half-way can simply be rerun; `ALTER ... ADD COLUMN` has no IF NOT EXISTS on 18.16, so
 * such a file holds that one statement only (a failure before the ledger insert then needs the
 * column checked by hand before rerunning).
 * `admin` must be a client without a default database, so that it can create the database.
 * With `cluster`, every statement (the ledger's too) is rendered as cluster DDL; see cluster-ddl.ts.
 */
export class MigrationRunner {
  private readonly db: string;

  constructor(
    private readonly admin: ClickHouseService,
    private readonly database: string,
    private readonly migrations: Migration[],
    private readonly log: (line: string) => void = () => undefined,
    private readonly cluster?: ClusterOptions,
  ) {
    this.db = quoteIdentifier(database);
  }

  async applied(): Promise<{ version: number; name: string; checksum: string }[]> {
    return this.admin.query(
      `SELECT version, any(name) AS name, any(checksum) AS checksum FROM ${this.db}.schema_migrations GROUP BY version ORDER BY version`,
    );
  }

  async migrate(): Promise<MigrationResult> {
    if (this.cluster) {
      await assertAlterCluster(this.admin, this.cluster);
      for (const ddl of clusterLedgerDdl(this.database, this.cluster)) await this.admin.command(ddl);
    } else {
      await this.admin.command(`CREATE DATABASE IF NOT EXISTS ${this.db}`);
      await this.admin.command(
        `CREATE TABLE IF NOT EXISTS ${this.db}.schema_migrations (version UInt32, name String, checksum String, applied_at DateTime) ENGINE = MergeTree ORDER BY version`,
      );
    }
    const applied = new Map((await this.applied()).map((r) => [Number(r.version), r]));
    for (const [version, row] of applied) {
      const file = this.migrations.find((m) => m.version === version);
      if (!file) throw new MigrationError(`applied migration ${version} (${row.name}) has no file any more`);
      if (file.checksum !== row.checksum && !file.previousChecksums.includes(row.checksum)) {
        throw new MigrationError(
          `checksum mismatch for applied migration ${version}_${file.name}.sql: it was edited after it ran ` +
            `(recorded ${row.checksum.slice(0, 12)}, file ${file.checksum.slice(0, 12)}); add a new migration instead`,
        );
      }
    }
    const pending = this.migrations.filter((m) => !applied.has(m.version));
    for (const migration of pending) {
      this.log(`applying ${String(migration.version).padStart(4, '0')}_${migration.name}`);
      for (const statement of renderMigration(migration, this.database, this.cluster)) {
        await this.admin.command(statement);
      }
      await this.admin.insert(`${this.db}.schema_migrations`, [
        {
          version: migration.version,
          name: migration.name,
          checksum: migration.checksum,
          applied_at: Math.floor(Date.now() / 1000),
        },
      ]);
    }
    return { applied: pending, alreadyApplied: applied.size };
  }
}
