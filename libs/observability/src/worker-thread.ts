import { join } from 'node:path';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts `<dir>/<name>.js`, or `<name>.ts` when running from sources: the thread then installs the
 * same SWC require hook as the main thread (scripts/register.js) before loading its entry.
 */
export function startWorkerThread(
  dir: string,
  name: string,
  workerData: unknown,
  options: Pick<WorkerOptions, 'resourceLimits'> = {},
): Worker {
  if (!__filename.endsWith('.ts')) return new Worker(join(dir, `${name}.js`), { ...options, workerData });
  const register = join(__dirname, '..', '..', '..', 'scripts', 'register.js');
  const entry = join(dir, `${name}.ts`);
  return new Worker(`require(${JSON.stringify(register)}); require(${JSON.stringify(entry)});`, {
    ...options,
    eval: true,
    workerData,
  });
}
