import { join } from 'node:path';
import { MIGRATIONS_DIR, loadMigrations, renderMigration } from '@mmctr/clickhouse';
import { adminClickHouse, uniqueName } from '../../../test/support/clients';
import { loadFeatureRepo, planChanges } from './index';

const ROOT = join(__dirname, '..', '..', '..');

describe('feature repository plan DDL on the local ClickHouse', () => {
  const admin = adminClickHouse();
  const database = uniqueName('feature_plan');

  afterAll(async () => {
    await admin.command(`DROP DATABASE IF EXISTS ${database}`);
    await admin.close();
  });

  it('adds the planned columns to the migrated events and items tables; old rows read the defaults', async () => {
    await admin.command(`CREATE DATABASE ${database}`);
    for (const m of loadMigrations(MIGRATIONS_DIR).filter((x) => x.version <= 2)) {
      for (const sql of renderMigration(m, database)) await admin.command(sql);
    }
    await admin.command(
      `INSERT INTO ${database}.items (item_id, ts_ms, title, tags) VALUES ('i1', 1700000000000, 'old', ['a'])`,
    );
    await admin.command(
      `INSERT INTO ${database}.events (event_id, type, ts_ms, user_id, item_id, request_id) ` +
        `VALUES ('e1', 'click', 1700000000000, 'u1', 'i1', 'r1')`,
    );

    const demo = loadFeatureRepo(join(ROOT, 'feature-repos', 'demo'));
    const next = loadFeatureRepo(join(__dirname, '..', 'test-vectors', 'plan', 'demo-additive.json'));
    const plan = planChanges(demo, next, { database });
    expect(plan.breaking).toEqual([]);
    for (const sql of plan.ddl) await admin.command(sql);

    const items = await admin.query<{ price: number; brand: string }>(
      `SELECT price, brand FROM ${database}.items FINAL WHERE item_id = 'i1'`,
    );
    expect(items).toEqual([{ price: 0, brand: "it's \\ new" }]);
    const events = await admin.query<{ app_version: string; quantity: string; gift: number }>(
      `SELECT app_version, quantity, gift FROM ${database}.events FINAL WHERE event_id = 'e1'`,
    );
    expect(events).toEqual([{ app_version: '', quantity: '1', gift: 0 }]);

    await admin.command(
      `INSERT INTO ${database}.events (event_id, type, ts_ms, user_id, item_id, request_id, quantity, gift) ` +
        `VALUES ('e2', 'add_to_cart', 1700000000001, 'u1', 'i1', 'r1', 3, 1)`,
    );
    const added = await admin.query<{ type: string; quantity: string }>(
      `SELECT type, quantity FROM ${database}.events FINAL WHERE event_id = 'e2'`,
    );
    expect(added).toEqual([{ type: 'add_to_cart', quantity: '3' }]);
  });
});
