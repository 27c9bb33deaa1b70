import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';

/** Each file in ./commands named `<name>.command.ts` exports `register(program)`. */
interface CommandModule {
  register(program: Command): void;
}

export function buildProgram(): Command {
  const program = new Command('mmctr')
    .description('mmctr: multimodal CTR platform command line')
    .showHelpAfterError();
  const dir = join(__dirname, 'commands');
  for (const file of readdirSync(dir)
    .filter((f) => /\.command\.(ts|js)$/.test(f))
    .sort()) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require(join(dir, file)) as CommandModule).register(program);
  }
  return program;
}

if (require.main === module) {
  // Commands print their results (JSON summaries, tables) to stdout: the apps' logs they start go to stderr.
  process.env.LOG_STREAM ??= 'stderr';
  buildProgram()
    .parseAsync(process.argv)
    .catch((err: Error) => {
      console.error(`mmctr: ${err.message}`);
      process.exit(1);
    });
}
