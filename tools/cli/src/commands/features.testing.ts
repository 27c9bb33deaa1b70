import { Command } from 'commander';
import { register } from './features.command';

export interface FeaturesRun {
  out: string;
  err: string;
  exitCode: number;
}

/** Runs `mmctr features <args>` in process (for tests): what it printed and its exit status. */
export async function runFeatures(...args: string[]): Promise<FeaturesRun> {
  const program = new Command('mmctr').exitOverride();
  register(program);
  const out: string[] = [];
  const err: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
  const error = jest.spyOn(console, 'error').mockImplementation((s: string) => void err.push(s));
  const before = process.exitCode;
  process.exitCode = 0;
  try {
    await program.parseAsync(['node', 'mmctr', 'features', ...args]);
    return { out: out.join('\n'), err: err.join('\n'), exitCode: Number(process.exitCode ?? 0) };
  } finally {
    process.exitCode = before;
    log.mockRestore();
    error.mockRestore();
  }
}
