import { DATABASE_MARKER } from '@mmctr/clickhouse';
import type { ClusterOptions } from '@mmctr/clickhouse';
import { parseFeatureRepo } from '../load';
import { formatPlan, formatSection, planChanges, type RepoPlan } from '../plan';
import type { FeatureRepo } from '../types';
import { LEDGER_TABLE, type FeatureStore } from './feature-store';
import { modelImpacts, type ModelImpact } from './model-impact';
import { storageDiff, storageRenderer } from './storage-ddl';
import { storageTables } from './storage-layout';

export interface ApplyOptions {
  /** Apply breaking changes (removed attributes, retyped columns, re-encoded features) too. */
  allowBreaking?: boolean;
  /** Plan and print only. */
  dryRun?: boolean;
  /** Render the DDL as cluster DDL (see @mmctr/clickhouse cluster-ddl.ts). */
  cluster?: ClusterOptions;
  /** Folder that relative model artifact_uri values resolve against (default: the working directory). */
  modelRoot?: string;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** A repository planned against what a database holds. */
export interface StorePlan {
  database: string;
  /** The last applied version of the repository (the baseline), undefined for none. */
  applied?: FeatureRepo;
  from: FeatureRepo;
  to: FeatureRepo;
  /** `ddl` holds the statements to run, rendered for the database; `breaking` includes retyped columns. */
  plan: RepoPlan;
  /** Column rewrites, run only with allowBreaking. */
  retype: string[];
  /** Columns no statement fixes; apply refuses while any exists. */
  incompatible: string[];
  models: ModelImpact[];
  /**
   * Set when this version was applied with a different document: apps that check the version cannot
   * tell the two apart, so it is refused unless breaking changes are allowed.
   */
  conflict?: string;
  upToDate: boolean;
}

export type ApplyStatus = 'applied' | 'up-to-date' | 'refused' | 'dry-run';

export interface ApplyResult {
  status: ApplyStatus;
  plan: StorePlan;
  /** The statements run, in order. */
  executed: string[];
  /** Why apply refused (empty unless refused). */
  reasons: string[];
}

/** The baseline of a database no version of the repository was applied to: nothing declared. */
function nothingApplied(to: FeatureRepo): FeatureRepo {
  return {
    ...to,
    version: '(nothing applied)',
    entities: [],
    event_types: [],
    embeddings: [],
    context: { recorded_on: to.context.recorded_on, attributes: [] },
    features: [],
  };
}

/** JSON with sorted keys: two documents that differ only in key order are the same repository. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Plans `repo` against the database: the last applied version, the actual tables, the registered models. */
export async function planRepository(
  store: FeatureStore,
  repo: FeatureRepo,
  opts: ApplyOptions = {},
): Promise<StorePlan> {
  const tables = storageTables(repo);
  const ledger = await store.appliedVersions(repo.name);
  const last = ledger[ledger.length - 1];
  const source = `${store.database}.${LEDGER_TABLE} ${repo.name} ${last?.version}`;
  const applied = last ? parseFeatureRepo(JSON.parse(last.document), source) : undefined;
  const from = applied ?? nothingApplied(repo);
  const plan = planChanges(from, repo, { database: store.database });
  const actual = await store.tableColumns(tables.map((t) => t.name));
  const diff = storageDiff(DATABASE_MARKER, tables, actual);
  const render = storageRenderer(repo, store.database, opts.cluster);
  plan.ddl = diff.ddl.flatMap(render);
  plan.breaking.push(...diff.breaking);
  const sameVersion = applied?.version === repo.version;
  const sameDocument = sameVersion && canonical(applied) === canonical(repo);
  const models = modelImpacts(
    await store.registeredModels(),
    repo,
    plan.reencoded,
    opts.modelRoot ?? process.cwd(),
  );
  return {
    database: store.database,
    applied,
    from,
    to: repo,
    plan,
    retype: diff.retype.flatMap(render),
    incompatible: diff.incompatible,
    models,
    conflict:
      sameVersion && !sameDocument
        ? `version '${repo.version}' is already applied with a different document: give the changed repository a new version (--allow-breaking records it under the same one)`
        : undefined,
    upToDate: sameDocument && plan.ddl.length === 0 && diff.retype.length === 0,
  };
}

/** Why `p` must not be applied; empty when it may. */
export function refusals(p: StorePlan, allowBreaking: boolean): string[] {
  const out: string[] = [];
  if (p.conflict && !allowBreaking) out.push(p.conflict);
  if (p.incompatible.length > 0) {
    out.push(
      `${p.incompatible.length} incompatible column(s): change them by hand or declare matching types`,
    );
  }
  if (p.plan.breaking.length > 0 && !allowBreaking) {
    out.push(`${p.plan.breaking.length} breaking change(s); pass --allow-breaking to apply them anyway`);
  }
  return out;
}

/** The plan as `mmctr features plan <repo>` and `apply` print it. */
export function formatStorePlan(p: StorePlan, allowBreaking: boolean): string {
  // A first apply adds every definition: the DDL and notes say what it takes, the rest is the repository.
  const plan = p.applied ? p.plan : { ...p.plan, contract: [], onlineStore: [], features: [] };
  const lines = [`database ${p.database}`, formatPlan(p.from, p.to, plan, allowBreaking)];
  const section = (title: string, items: string[]): void => {
    lines.push(...formatSection(title, items));
  };
  section('column rewrites (breaking)', p.retype);
  section('incompatible columns', p.incompatible);
  section(
    'registered models this change breaks',
    p.models
      .filter((m) => m.broken.length > 0)
      .map((m) => `${m.version} (${m.status}): ${m.broken.join(', ')}`),
  );
  section(
    'registered models not checked',
    p.models.filter((m) => m.unknown).map((m) => `${m.version} (${m.status}): ${m.unknown}`),
  );
  lines.push(...formatSection('ledger', p.conflict ? [p.conflict] : []));
  return lines.join('\n');
}

const firstLine = (sql: string): string => sql.split('\n')[0]!;

/**
 * Makes the database hold `repo`: plans against the ledger and the actual tables, refuses breaking
 * changes unless allowed (and incompatible columns always), runs the DDL in order and records the
 * version. Idempotent: a version already applied with the same document changes nothing.
 */
export async function applyRepository(
  store: FeatureStore,
  repo: FeatureRepo,
  opts: ApplyOptions = {},
): Promise<ApplyResult> {
  const log = opts.log ?? (() => undefined);
  const plan = await planRepository(store, repo, opts);
  const name = `${repo.name} ${repo.version}`;
  if (plan.upToDate) {
    log(`database ${store.database}: feature repository ${name} is already applied; nothing to do`);
    return { status: 'up-to-date', plan, executed: [], reasons: [] };
  }
  const allowBreaking = opts.allowBreaking ?? false;
  log(formatStorePlan(plan, allowBreaking));
  const reasons = refusals(plan, allowBreaking);
  if (reasons.length > 0) return { status: 'refused', plan, executed: [], reasons };
  const statements = [...plan.plan.ddl, ...plan.retype];
  if (opts.dryRun) {
    log(`dry run: nothing changed in database ${store.database}`);
    return { status: 'dry-run', plan, executed: [], reasons: [] };
  }
  if (opts.cluster && statements.length > 0) await store.assertAlterCluster(opts.cluster);
  const executed: string[] = [];
  for (const sql of statements) {
    log(`[${executed.length + 1}/${statements.length}] ${firstLine(sql)}`);
    await store.run(sql);
    executed.push(sql);
  }
  if (plan.applied?.version !== repo.version || plan.conflict) {
    await store.record(repo);
    log(`recorded ${name} in ${store.database}.${LEDGER_TABLE}`);
  }
  log(`database ${store.database}: feature repository ${name} applied (${executed.length} statement(s))`);
  return { status: 'applied', plan, executed, reasons: [] };
}

/**
 * Fails fast when `repo`'s version was never applied to the store's database: apps call it at startup
 * so they never write to columns that do not exist. `path` names the repository in the fix.
 */
export async function assertRepositoryApplied(
  store: Pick<FeatureStore, 'database' | 'appliedVersions'>,
  repo: FeatureRepo,
  path = '<repository path>',
): Promise<void> {
  const applied = await store.appliedVersions(repo.name);
  if (applied.some((a) => a.version === repo.version)) return;
  const last = applied.at(-1);
  throw new Error(
    `feature repository ${repo.name} ${repo.version} is not applied to database ${store.database}` +
      `${last ? ` (last applied: ${last.version})` : ''}: run mmctr features apply ${path}`,
  );
}
