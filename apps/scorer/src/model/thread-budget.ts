import { availableParallelism } from 'node:os';

/**
 * onnxruntime intra-op threads per session: as configured with one process and inference on the request
 * loop; with several processes or pool threads, each running sessions at once, at most
 * cores ÷ (processes × pool threads), never below 1, so they do not oversubscribe the cores.
 * `configured` 0 (onnxruntime's default: every core) takes that share.
 */
export function intraOpThreads(
  configured: number,
  workers: number,
  processes: number,
  cores = availableParallelism(),
): number {
  if (workers === 0 && processes === 1) return configured;
  const share = Math.max(1, Math.floor(cores / (processes * Math.max(1, workers))));
  return configured === 0 ? share : Math.min(configured, share);
}
