import type { Command } from 'commander';
import { loadConfig } from '@mmctr/config';
import { DemoRunsRepository } from '../demo-runs.repository';
import { demoRunEnv, pruneDemoRuns, shellExports } from './demo-runs';

interface PruneFlags {
  keep: string;
  namespace: string;
}

/** How often, in Redis keys deleted, a long prune says how far it is. */
const PROGRESS_EVERY = 500_000;

export function register(program: Command): void {
  const demoRun = program
    .command('demo-run')
    .description("the per-run names of scripts/demo.sh's topics, consumer groups and Redis keys");
  demoRun
    .command('env')
    .description('print the run\'s names as shell exports (eval "$(mmctr demo-run env --run R)")')
    .requiredOption('--run <id>', 'the run id (letters, digits, _)')
    .option('--namespace <ns>', 'the name every run shares', 'demo')
    .action((flags: { run: string; namespace: string }) => {
      console.log(shellExports(demoRunEnv(flags.run, flags.namespace)));
    });
  demoRun
    .command('prune')
    .description("delete every other run's Kafka topics, consumer groups and Redis keys")
    .requiredOption('--keep <id>', 'the run to keep (the current one)')
    .option('--namespace <ns>', 'the name every run shares', 'demo')
    .action(async (flags: PruneFlags) => {
      const repo = new DemoRunsRepository(loadConfig());
      try {
        let shown = 0;
        const result = await pruneDemoRuns(repo, flags.keep, flags.namespace, (n) => {
          if (n - shown < PROGRESS_EVERY) return;
          shown = n;
          console.error(`[demo-run prune] ${n} Redis keys deleted so far`);
        });
        console.log(JSON.stringify(result));
      } finally {
        await repo.close();
      }
    });
}
