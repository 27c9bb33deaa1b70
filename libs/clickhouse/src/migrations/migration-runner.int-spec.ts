import { createHash } from 'node:crypto';
import { cpSync, appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminClickHouse, uniqueName } from '../../../../test/support/clients';
import type { ClickHouseService } from '../clickhouse.service';
import { MigrationError, MigrationRunner, loadMigrations } from './migration-runner';
import { MIGRATIONS_DIR } from './migration-runner';
import { tempDir, tempSubdir } from '../../../../test/support/temp-dir';

describe('MigrationRunner against the real server', () => {
  const migrationCopies = tempDir('migrations');
  let admin: ClickHouseService;
  const databases: string[] = [];
  const freshDatabase = () => {
    const db = uniqueName('mmctr_mig');
    databases.push(db);
    return db;
  };

  beforeAll(() => {
    admin = adminClickHouse();
  });
  afterAll(async () => {
    for (const db of databases) await admin.command('DROP DATABASE IF EXISTS {db:Identifier}', { db });
    await admin.close();
  });

  const schemaOf = (db: string) =>
    admin.query(
      `SELECT table, name, type, default_kind FROM system.columns WHERE database = {db:String}
       ORDER BY table, name`,
      { db },
    );

  it('applies every migration, and a second run changes nothing', async () => {
    const db = freshDatabase();
    const migrations = loadMigrations(MIGRATIONS_DIR);
    const first = await new MigrationRunner(admin, db, migrations).migrate();
    expect(first.applied.map((m) => m.version)).toEqual(migrations.map((m) => m.version));
    const tables = await admin.query<{ name: string }>(
      'SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name',
      { db },
    );
    expect(tables.map((t) => t.name)).toEqual(
      expect.arrayContaining([
        'events',
        'events_dedup',
        'impressions_labeled',
        'daily_ctr_by_item',
        'items',
        'item_embeddings',
        'models',
        'score_log',
        'schema_migrations',
      ]),
    );
    // 0009: score_log.history_ts_ms, right after history_item_ids.
    const scoreLog = await admin.query<{ name: string; type: string }>(
      'DESCRIBE TABLE {db:Identifier}.score_log',
      { db },
    );
    const at = scoreLog.findIndex((c) => c.name === 'history_item_ids');
    expect(scoreLog[at + 1]).toMatchObject({ name: 'history_ts_ms', type: 'Array(Int64)' });
    const before = await schemaOf(db);
    const ledgerBefore = await admin.query(
      'SELECT version, checksum, applied_at FROM {db:Identifier}.schema_migrations ORDER BY version',
      { db },
    );

    const second = await new MigrationRunner(admin, db, loadMigrations(MIGRATIONS_DIR)).migrate();
    expect(second.applied).toHaveLength(0);
    expect(second.alreadyApplied).toBe(migrations.length);
    expect(await schemaOf(db)).toEqual(before);
    expect(
      await admin.query(
        'SELECT version, checksum, applied_at FROM {db:Identifier}.schema_migrations ORDER BY version',
        { db },
      ),
    ).toEqual(ledgerBefore);
  });

  it('accepts an applied file edited with the old checksum declared, and only that one', async () => {
    const db = freshDatabase();
    const dir = tempSubdir(migrationCopies, 'migrations');
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
    await new MigrationRunner(admin, db, loadMigrations(dir)).migrate();
    const file = join(dir, '0004_ingest_batches.sql');
    const old = createHash('sha256').update(readFileSync(file)).digest('hex');
    writeFileSync(file, `-- previous checksum ${old} (comment-only edit)\n${readFileSync(file, 'utf8')}`);
    const again = await new MigrationRunner(admin, db, loadMigrations(dir)).migrate();
    expect(again).toEqual({ applied: [], alreadyApplied: loadMigrations(dir).length });
    writeFileSync(
      file,
      `-- previous checksum ${'0'.repeat(64)}\n${readFileSync(file, 'utf8').split('\n').slice(1).join('\n')}`,
    );
    await expect(new MigrationRunner(admin, db, loadMigrations(dir)).migrate()).rejects.toThrow(
      /checksum mismatch for applied migration 4_ingest_batches/,
    );
  });

  it('refuses to run when an applied file was edited', async () => {
    const db = freshDatabase();
    const dir = tempSubdir(migrationCopies, 'migrations');
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
    await new MigrationRunner(admin, db, loadMigrations(dir)).migrate();
    appendFileSync(join(dir, '0001_events.sql'), '\n-- edited after it ran\n');
    await expect(new MigrationRunner(admin, db, loadMigrations(dir)).migrate()).rejects.toThrow(
      MigrationError,
    );
    await expect(new MigrationRunner(admin, db, loadMigrations(dir)).migrate()).rejects.toThrow(
      /checksum mismatch for applied migration 1_events/,
    );
  });
});
