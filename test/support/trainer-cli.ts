import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

export interface TrainerRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `.venv/bin/mmctr-train ARGS` (1 thread, CPU: tests share a small machine) with the test's environment. */
export async function mmctrTrain(args: string[]): Promise<TrainerRun> {
  const child = spawn(join(ROOT, '.venv', 'bin', 'mmctr-train'), args, {
    cwd: ROOT,
    env: { ...process.env, MMCTR_DEVICE: 'cpu', MMCTR_THREADS: '1' },
    stdio: 'pipe',
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // 'close', not 'exit': the output is all read only once the streams close.
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, stdout, stderr };
}

/** `mmctr-train train ARGS`, failing with its output unless it succeeds; the registered version. */
export async function trainAndRegister(args: string[]): Promise<string> {
  const run = await mmctrTrain(['train', ...args]);
  if (run.code !== 0) throw new Error(`mmctr-train train failed:\n${run.stdout}\n${run.stderr}`);
  return /^version (\S+) -> /m.exec(run.stdout)![1]!;
}

/** `mmctr-train promote VERSION`, failing with its output unless it succeeds. */
export async function promote(database: string, version: string): Promise<void> {
  const run = await mmctrTrain(['promote', '--database', database, version]);
  if (run.code !== 0) throw new Error(`mmctr-train promote failed:\n${run.stderr}`);
}

/** What `mmctr-train parity --json` prints. */
export interface ParityResult {
  ok: boolean;
  model_version: string;
  engine: string;
  rows_checked: number;
  candidates_checked: number;
  max_abs_diff: number;
  candidates_over_tolerance: number;
  degraded_rows_skipped: number;
  spec_mismatch_rows: number;
  malformed_rows: number;
  item_refs: {
    history: number;
    candidates: number;
    unknown: number;
    changed_after_request: number;
    without_vector: number;
  };
  worst: { request_id: string; item_id: string; abs_diff: number }[];
  /** The logged aggregate window values recomputed offline (a layout with aggregate features). */
  aggregates?: {
    ok: boolean;
    rows: number;
    values_compared: number;
    values_equal: number;
    undeclared_values: number;
    max_abs_diff: number;
    worst: { request_id: string; value: string; side: string; item_id?: string; abs_diff: number }[];
  };
}

/** `mmctr-train parity --json` on `database` for `version` (extra flags in `args`), with its parsed result. */
export async function parity(
  database: string,
  version: string,
  args: string[] = [],
): Promise<TrainerRun & { result: ParityResult | undefined }> {
  const run = await mmctrTrain([
    'parity',
    '--database',
    database,
    '--model-version',
    version,
    '--json',
    ...args,
  ]);
  let result: ParityResult | undefined;
  try {
    result = JSON.parse(run.stdout) as ParityResult;
  } catch {
    result = undefined;
  }
  return { ...run, result };
}
