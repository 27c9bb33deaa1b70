import type { Command } from 'commander';
import {
  FeatureRepoError,
  formatPlan,
  loadFeatureRepo,
  planChanges,
  resolveRepoPath,
  type FeatureRepo,
} from '@mmctr/feature-repo';

/** Exit status when a repository is invalid or a plan is refused (1 stays for crashes). */
const REFUSED = 2;

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

export function register(program: Command): void {
  const features = program.command('features').description('feature repository: validate and plan changes');

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

  features
    .command('plan')
    .description('print the additive changes (ClickHouse DDL, contract, online store) from <old> to <new>')
    .argument('<old>', 'current repository file or folder')
    .argument('<new>', 'proposed repository file or folder')
    .option('--allow-breaking', 'list breaking changes without refusing the plan', false)
    .option('--database <name>', 'ClickHouse database the DDL targets', 'mmctr')
    .action((oldPath: string, newPath: string, opts: { allowBreaking: boolean; database: string }) => {
      const from = load(oldPath);
      const to = load(newPath);
      if (!from || !to) return;
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(opts.database)) {
        console.error(`--database: not a plain identifier: ${opts.database}`);
        process.exitCode = REFUSED;
        return;
      }
      const plan = planChanges(from, to, { database: opts.database });
      const text = formatPlan(from, to, plan, opts.allowBreaking);
      if (plan.breaking.length > 0 && !opts.allowBreaking) {
        console.error(text);
        process.exitCode = REFUSED;
      } else console.log(text);
    });
}
