import {
  MigrationRunner,
  clickHouseClient,
  loadMigrations,
  MIGRATIONS_DIR,
  type ClickHouseService,
} from '@mmctr/clickhouse';
import { applyRunningRepo } from '../apply-running-repo';
import { adminClickHouse, testConfig, uniqueName } from '../clients';

/**
 * A ClickHouse database of one test's own (tests that alter tables or start without them must not
 * touch the shared test database). `migrate()` applies the project's migrations and the running
 * feature repository to it.
 */
export class TestDatabase {
  readonly name = uniqueName('mmctr_test_db');
  private readonly admin = adminClickHouse();
  private client: ClickHouseService | undefined;

  async create(): Promise<void> {
    await this.admin.command(`CREATE DATABASE IF NOT EXISTS ${this.name}`);
  }

  /** Applies the migrations, then the running feature repository (the apps refuse a database without it). */
  async migrate(): Promise<void> {
    await new MigrationRunner(this.admin, this.name, loadMigrations(MIGRATIONS_DIR)).migrate();
    await applyRunningRepo(this.admin, this.name, testConfig());
  }

  /** A client whose default database is this one. */
  get clickhouse(): ClickHouseService {
    this.client ??= clickHouseClient(testConfig(), { database: this.name });
    return this.client;
  }

  command(sql: string): Promise<void> {
    return this.admin.command(sql);
  }

  async drop(): Promise<void> {
    await this.client?.close();
    await this.admin.command(`DROP DATABASE IF EXISTS ${this.name}`).catch(() => undefined);
    await this.admin.close();
  }
}
