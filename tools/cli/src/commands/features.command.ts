import type { Command } from 'commander';
import { loadConfig } from '@mmctr/config';
import { clusterOptions } from '@mmctr/clickhouse';
import {
  FeatureRepoError,
  FeatureStoreRepository,
  applyRepository,
  formatPlan,
  formatStorePlan,
  loadFeatureRepo,
  planChanges,
  planRepository,
  refusals,
  resolveRepoPath,
  type ApplyOptions,
  type FeatureRepo,
} from '@mmctr/feature-repo';

/** Exit status when a repository is invalid or a plan is refused (1 stays for crashes). */
const REFUSED = 2;

const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The repository, or undefined after printing its path-named errors. */
function load(path: string): FeatureRepo | undefined {
  try {
    return loadFeatureRepo(path);
  } catch (e) {
    if (!(e instanceof FeatureRepoError)) throw e;
    console.error(e.message);
    process.exitCode = REFUSED;
    return undefined;
  }
}

function refuse(message: string): void {
  console.error(message);
  process.exitCode = REFUSED;
}

interface StoreOptions {
  allowBreaking: boolean;
  database?: string;
  modelRoot: string;
}

/** Runs `fn` on the database's feature store (CLICKHOUSE_* config; --database overrides the database). */
async function withStore(
  opts: StoreOptions,
  fn: (store: FeatureStoreRepository, apply: ApplyOptions) => Promise<void>,
): Promise<void> {
  const config = loadConfig();
  const store = FeatureStoreRepository.fromConfig(config, opts.database ?? config.CLICKHOUSE_DATABASE);
  const cluster = clusterOptions(config);
  try {
    await fn(store, { allowBreaking: opts.allowBreaking, modelRoot: opts.modelRoot, cluster });
  } catch (e) {
    if (!(e instanceof FeatureRepoError)) throw e;
    refuse(e.message);
  } finally {
    await store.close();
  }
}

function planFiles(oldPath: string, newPath: string, opts: StoreOptions): void {
  const from = load(oldPath);
  const to = load(newPath);
  if (!from || !to) return;
  const plan = planChanges(from, to, { database: opts.database ?? 'mmctr' });
  const text = formatPlan(from, to, plan, opts.allowBreaking);
  if (plan.breaking.length > 0 && !opts.allowBreaking) refuse(text);
  else console.log(text);
}

async function planStore(path: string, opts: StoreOptions): Promise<void> {
  const repo = load(path);
  if (!repo) return;
  await withStore(opts, async (store, apply) => {
    const plan = await planRepository(store, repo, apply);
    const text = formatStorePlan(plan, opts.allowBreaking);
    if (refusals(plan, opts.allowBreaking).length > 0) refuse(text);
    else console.log(text);
  });
}

async function apply(path: string, opts: StoreOptions & { dryRun: boolean }): Promise<void> {
  const repo = load(path);
  if (!repo) return;
  await withStore(opts, async (store, applyOpts) => {
    const result = await applyRepository(store, repo, {
      ...applyOpts,
      dryRun: opts.dryRun,
      log: (line) => console.log(line),
    });
    if (result.status === 'refused') refuse(result.reasons.map((r) => `refused: ${r}`).join('\n'));
  });
}

function checkDatabase(opts: { database?: string }): boolean {
  if (opts.database === undefined || PLAIN_NAME.test(opts.database)) return true;
  refuse(`--database: not a plain identifier: ${opts.database}`);
  return false;
}

export function register(program: Command): void {
  const features = program
    .command('features')
    .description('feature repository: validate, plan changes, apply them to ClickHouse');

  features
    .command('validate')
    .description(
      'check a feature repository (a repo.json file or its folder); prints OK or every error by path',
    )
    .argument('<path>', 'repository file or folder')
    .action((path: string) => {
      const repo = load(path);
      if (!repo) return;
      const kinds = new Map<string, number>();
      for (const f of repo.features) kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1);
      const counts = [...kinds].map(([k, n]) => `${n} ${k}`).join(', ');
      console.log(
        `OK ${resolveRepoPath(path)}: ${repo.name} ${repo.version}, ${repo.entities.length} entities, ` +
          `${repo.event_types.length} event types, ${repo.features.length} features (${counts})`,
      );
    });

  const modelRootHelp = 'folder that relative model artifact_uri values resolve against';
  features
    .command('plan')
    .description(
      'print the changes from the version applied to the database to <repo> (ClickHouse DDL, contract, ' +
        'online store, registered models it breaks); with two paths, from <repo> to <new> without a database',
    )
    .argument('<repo>', 'repository file or folder (with <new>: the current one)')
    .argument('[new]', 'proposed repository file or folder')
    .option('--allow-breaking', 'list breaking changes without refusing the plan', false)
    .option('--database <name>', 'ClickHouse database (default CLICKHOUSE_DATABASE; two paths: mmctr)')
    .option('--model-root <dir>', modelRootHelp, process.cwd())
    .action(async (repoPath: string, newPath: string | undefined, opts: StoreOptions) => {
      if (!checkDatabase(opts)) return;
      if (newPath !== undefined) planFiles(repoPath, newPath, opts);
      else await planStore(repoPath, opts);
    });

  features
    .command('apply')
    .description(
      'make the database hold <repo>: create its tables, add columns and event types, record the ' +
        'version in feature_repo_applied; refuses breaking changes (exit 2) unless --allow-breaking',
    )
    .argument('<repo>', 'repository file or folder')
    .option('--allow-breaking', 'apply breaking changes too', false)
    .option('--dry-run', 'print the plan and change nothing', false)
    .option('--database <name>', 'ClickHouse database (default CLICKHOUSE_DATABASE)')
    .option('--model-root <dir>', modelRootHelp, process.cwd())
    .action(async (path: string, opts: StoreOptions & { dryRun: boolean }) => {
      if (checkDatabase(opts)) await apply(path, opts);
    });
}
