import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const ROOT = join(__dirname, '..', '..');
const run = promisify(execFile);

/** Runs `bin/mmctr ARGS` with the test's environment plus `env`; fails with its output unless it succeeds. */
export async function mmctrCli(args: string[], env: Record<string, string> = {}): Promise<string> {
  try {
    const { stdout } = await run(join(ROOT, 'bin', 'mmctr'), args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    throw new Error(
      `mmctr ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`,
    );
  }
}
