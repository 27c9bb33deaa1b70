import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIGRATIONS_DIR, MigrationRunner, loadMigrations } from '@mmctr/clickhouse';
import {
  ARTIFACT_REPO_FILE,
  FeatureStoreRepository,
  applyRepository,
  assertRepositoryApplied,
  loadFeatureRepo,
} from '@mmctr/feature-repo';
import { runFeatures } from '../../../tools/cli/src/commands/features.testing';
import { adminClickHouse, uniqueName } from '../../support/clients';
import { AD_PLATFORM, adPlatform, additive, type RepoDoc } from '../../support/feature-repo/ad-platform';

const ROOT = join(__dirname, '..', '..', '..');

const breaking = (doc: RepoDoc): void => {
  const user = doc.entities.find((e) => e.name === 'user')!;
  user.attributes = user.attributes!.filter((a) => a.name !== 'gender');
  doc.features = doc.features.filter((f) => f.name !== 'gender');
  const purchase = doc.event_types.find((t) => t.name === 'purchase')!;
  purchase.attributes!.find((a) => a.name === 'revenue')!.type = 'int';
};

describe('features apply on the local ClickHouse (18.16)', () => {
  const admin = adminClickHouse();
  const databases: string[] = [];
  const stores: FeatureStoreRepository[] = [];
  const adRepo = loadFeatureRepo(AD_PLATFORM);

  /** A migrated database with no repository applied, and a feature store on it. */
  async function freshStore(): Promise<FeatureStoreRepository> {
    const database = uniqueName('feature_apply');
    databases.push(database);
    await new MigrationRunner(admin, database, loadMigrations(MIGRATIONS_DIR)).migrate();
    const store = new FeatureStoreRepository(adminClickHouse(), database);
    stores.push(store);
    return store;
  }

  /** freshStore with the ad-platform repository (ads-1) applied. */
  async function adsStore(): Promise<FeatureStoreRepository> {
    const store = await freshStore();
    await applyRepository(store, adRepo);
    return store;
  }

  const columns = async (database: string, table: string): Promise<Record<string, string>> => {
    const rows = await admin.query<{ name: string; type: string }>(
      `SELECT name, type FROM system.columns WHERE database = {d:String} AND table = {t:String}`,
      { d: database, t: table },
    );
    return Object.fromEntries(rows.map((r) => [r.name, r.type]));
  };

  const ledger = (database: string) =>
    admin.query<{ name: string; version: string }>(
      `SELECT name, version FROM ${database}.feature_repo_applied ORDER BY applied_ms`,
    );
  /** The ledger rows of the ad-platform repository applied as `versions`, in order. */
  const adsApplied = (...versions: string[]) => versions.map((version) => ({ name: 'ad_platform', version }));

  afterAll(async () => {
    for (const s of stores) await s.close();
    for (const d of databases) await admin.command(`DROP DATABASE IF EXISTS ${d}`);
    await admin.close();
  });

  it('creates the ad-platform tables in an empty database, records the version, and a second apply is a no-op', async () => {
    const store = await freshStore();
    await expect(assertRepositoryApplied(store, adRepo, 'feature-repos/ad-platform')).rejects.toThrow(
      `feature repository ad_platform ads-1 is not applied to database ${store.database}: ` +
        'run mmctr features apply feature-repos/ad-platform',
    );
    const lines: string[] = [];
    const first = await applyRepository(store, adRepo, { log: (l) => lines.push(l) });
    expect(first.status).toBe('applied');
    expect(first.executed).toHaveLength(5);
    expect(lines).toContain(`recorded ad_platform ads-1 in ${store.database}.feature_repo_applied`);

    expect(await columns(store.database, 'ad_events')).toEqual({
      event_id: 'String',
      type: "Enum8('ad_impression' = 1, 'ad_click' = 2, 'install' = 3, 'purchase' = 4)",
      ts_ms: 'UInt64',
      event_time: 'DateTime',
      user_id: 'String',
      ad_id: 'String',
      auction_id: 'String',
      slot: 'Int64',
      app_bundle: 'String',
      os_version: 'String',
      network: 'String',
      floor_price: 'Float64',
      revenue: 'Float64',
      schema_version: 'UInt8',
      ingested_at: 'DateTime',
    });
    expect(await columns(store.database, 'user_profiles')).toMatchObject({
      user_id: 'String',
      ts_ms: 'UInt64',
      updated_at: 'DateTime',
      interests: 'Array(String)',
      account_age_days: 'Int64',
      lifetime_spend: 'Float64',
      is_premium: 'UInt8',
    });
    for (const t of ['advertisers', 'campaigns', 'ads']) {
      expect(Object.keys(await columns(store.database, t)).length).toBeGreaterThan(4);
    }
    await assertRepositoryApplied(store, adRepo);

    const again: string[] = [];
    const second = await applyRepository(store, adRepo, { log: (l) => again.push(l) });
    expect(second).toMatchObject({ status: 'up-to-date', executed: [] });
    expect(again).toEqual([
      `database ${store.database}: feature repository ad_platform ads-1 is already applied; nothing to do`,
    ]);
    expect(await ledger(store.database)).toEqual(adsApplied('ads-1'));

    const edited = adPlatform('ads-1', additive);
    const refused = await applyRepository(store, edited);
    expect(refused.status).toBe('refused');
    expect(refused.reasons).toEqual([
      "version 'ads-1' is already applied with a different document: give the changed repository a new " +
        'version (--allow-breaking records it under the same one)',
    ]);
    expect(refused.executed).toEqual([]);
    expect((await applyRepository(store, edited, { allowBreaking: true })).status).toBe('applied');
    expect(await ledger(store.database)).toEqual(adsApplied('ads-1', 'ads-1'));
    expect((await applyRepository(store, edited)).status).toBe('up-to-date');
  });

  it('applies an additive change (new optional attribute, new event type): old rows read the default', async () => {
    const store = await adsStore();
    const db = store.database;
    await admin.command(
      `INSERT INTO ${db}.ad_events (event_id, type, ts_ms, event_time, user_id, ad_id, auction_id) ` +
        `VALUES ('e1', 'ad_impression', 1700000000000, 1700000000, 'u1', 'a1', 'x1')`,
    );
    const next = adPlatform('ads-2', additive);
    const result = await applyRepository(store, next);
    expect(result.status).toBe('applied');
    expect(result.executed).toEqual([
      `ALTER TABLE \`${db}\`.ad_events ADD COLUMN \`placement_id\` String DEFAULT 'none'`,
      `ALTER TABLE \`${db}\`.ad_events ADD COLUMN \`watch_ms\` Int64 DEFAULT 0`,
      `ALTER TABLE \`${db}\`.ad_events MODIFY COLUMN \`type\` Enum8('ad_impression' = 1, 'ad_click' = 2, ` +
        `'install' = 3, 'purchase' = 4, 'video_view' = 5)`,
    ]);
    await admin.command(
      `INSERT INTO ${db}.ad_events (event_id, type, ts_ms, event_time, user_id, ad_id, watch_ms) ` +
        `VALUES ('e2', 'video_view', 1700000000001, 1700000000, 'u1', 'a1', 1500)`,
    );
    const rows = await admin.query(
      `SELECT event_id, type, placement_id, watch_ms FROM ${db}.ad_events FINAL ORDER BY event_id`,
    );
    expect(rows).toEqual([
      { event_id: 'e1', type: 'ad_impression', placement_id: 'none', watch_ms: '0' },
      { event_id: 'e2', type: 'video_view', placement_id: 'none', watch_ms: '1500' },
    ]);
    expect(await ledger(db)).toEqual(adsApplied('ads-1', 'ads-2'));
    expect((await applyRepository(store, next)).status).toBe('up-to-date');
  });

  it('refuses a breaking change (removed attribute, type change) unless allowed, naming them', async () => {
    const store = await adsStore();
    const db = store.database;
    const next = adPlatform('ads-2', breaking);
    const refused = await applyRepository(store, next);
    expect(refused.status).toBe('refused');
    expect(refused.executed).toEqual([]);
    expect(refused.plan.plan.breaking).toEqual([
      'entities.user.attributes.gender: attribute removed',
      'event_types.purchase.attributes.revenue.type: float -> int',
      'features.gender: feature removed',
      `table ad_events, column revenue: declared int (event_types.purchase.attributes.revenue), ` +
        'actual Float64: rewritten as Int64',
    ]);
    expect(refused.reasons).toEqual(['4 breaking change(s); pass --allow-breaking to apply them anyway']);
    expect((await columns(db, 'ad_events')).revenue).toBe('Float64');
    expect(await ledger(db)).toEqual(adsApplied('ads-1'));

    const allowed = await applyRepository(store, next, { allowBreaking: true });
    expect(allowed.status).toBe('applied');
    expect(allowed.executed).toEqual([
      `ALTER TABLE \`${db}\`.ad_events MODIFY COLUMN \`revenue\` Int64 DEFAULT 0`,
    ]);
    expect((await columns(db, 'ad_events')).revenue).toBe('Int64');
    // The removed attribute's column stays: rows written before keep their values.
    expect((await columns(db, 'user_profiles')).gender).toBe('String');
  });

  it('names columns whose existing type no declaration can use, and never applies over them', async () => {
    const store = await freshStore();
    const db = store.database;
    await admin.command(
      `CREATE TABLE ${db}.campaigns (campaign_id String, ts_ms String, objective String) ` +
        'ENGINE = MergeTree ORDER BY campaign_id',
    );
    const result = await applyRepository(store, adRepo, { allowBreaking: true });
    expect(result.status).toBe('refused');
    expect(result.plan.incompatible).toEqual([
      'table campaigns, column ts_ms: core column must be UInt64, actual String',
      'table campaigns, column updated_at: core column DateTime is missing',
      'table campaigns, column schema_version: core column UInt8 is missing',
      'table campaigns, column ingested_at: core column DateTime is missing',
    ]);
    expect(result.reasons).toEqual([
      '4 incompatible column(s): change them by hand or declare matching types',
    ]);
    expect(await columns(db, 'ad_events')).toEqual({});
  });

  it('applies the demo repository to a migrated database by recording it only', async () => {
    const store = await freshStore();
    const result = await applyRepository(store, loadFeatureRepo(join(ROOT, 'feature-repos', 'demo')));
    expect(result).toMatchObject({ status: 'applied', executed: [] });
    expect(result.plan.incompatible).toEqual([]);
    expect((await ledger(store.database)).map((r) => r.name)).toEqual(['demo']);
  });

  describe('mmctr features plan <repo> against the database', () => {
    let registry: string;
    beforeAll(() => {
      registry = mkdtempSync(join(tmpdir(), 'feature-apply-models-'));
    });
    afterAll(() => rmSync(registry, { recursive: true, force: true }));

    /** A registered model whose artifact folder records `trained` (feature names) as its feature_repo.json. */
    async function registerModel(
      db: string,
      version: string,
      trained?: { name: string; version: string; features: string[] },
    ): Promise<void> {
      mkdirSync(join(registry, version));
      if (trained) {
        const doc = { ...trained, features: trained.features.map((name) => ({ name })) };
        writeFileSync(join(registry, version, ARTIFACT_REPO_FILE), JSON.stringify(doc));
      }
      await admin.insert(`${db}.models`, [
        {
          version,
          model_type: 'qin',
          status: 'production',
          artifact_uri: version,
          feature_spec_version: 'fs',
          metrics: '{}',
          train_from_ms: 0,
          train_to_ms: 0,
          git_rev: 'r',
          created_at: 1700000000,
          updated_ms: 1,
        },
      ]);
    }

    const cli = runFeatures;

    it('names the registered models a change breaks and those it cannot check', async () => {
      const store = await adsStore();
      const db = store.database;
      const trained = { name: 'ad_platform', version: 'ads-1' };
      await registerModel(db, 'm-gender', { ...trained, features: ['user_id', 'gender'] });
      await registerModel(db, 'm-safe', { ...trained, features: ['user_id', 'ad_id'] });
      await registerModel(db, 'm-legacy');

      const dir = mkdtempSync(join(tmpdir(), 'feature-apply-repo-'));
      try {
        writeFileSync(join(dir, 'repo.json'), JSON.stringify(adPlatform('ads-2', breaking)));
        const refused = await cli('plan', dir, '--database', db, '--model-root', registry);
        expect(refused.exitCode).toBe(2);
        expect(refused.err).toContain(`database ${db}\nplan ad_platform ads-1 -> ad_platform ads-2`);
        expect(refused.err).toContain(
          'registered models this change breaks:\n  m-gender (production): gender',
        );
        expect(refused.err).toContain(
          'registered models not checked:\n  m-legacy (production): unknown repository (its artifact records none)',
        );
        expect(refused.err).not.toContain('m-safe');

        const additiveDir = join(dir, 'additive');
        mkdirSync(additiveDir);
        writeFileSync(join(additiveDir, 'repo.json'), JSON.stringify(adPlatform('ads-2', additive)));
        const ok = await cli('plan', additiveDir, '--database', db, '--model-root', registry);
        expect(ok.exitCode).toBe(0);
        expect(ok.out).toContain(
          `  ALTER TABLE \`${db}\`.ad_events ADD COLUMN \`watch_ms\` Int64 DEFAULT 0;`,
        );
        expect(ok.out).not.toContain('registered models this change breaks');

        const applied = await cli('apply', additiveDir, '--database', db, '--dry-run');
        expect(applied.exitCode).toBe(0);
        expect(applied.out).toContain(`dry run: nothing changed in database ${db}`);
        expect((await columns(db, 'ad_events')).watch_ms).toBeUndefined();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
