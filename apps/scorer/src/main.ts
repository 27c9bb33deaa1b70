import 'reflect-metadata';
import cluster from 'node:cluster';
import { loadConfig } from '@mmctr/config';
import { createLogger, installShutdownWatchdog } from '@mmctr/observability';
import { createScorerApp } from './bootstrap';
import { runPrimary } from './cluster/scorer-cluster';
import { loadScorerConfig } from './config/scorer-config';

async function main(): Promise<void> {
  const config = loadConfig();
  const { SCORER_PROCESSES } = loadScorerConfig();
  // Multi-process mode: this process only forks and supervises the scorers that share the port.
  if (SCORER_PROCESSES > 1 && cluster.isPrimary) {
    runPrimary(SCORER_PROCESSES, createLogger('scorer', config.LOG_LEVEL));
    return;
  }
  // Installed before the app's own shutdown hooks: SIGTERM ends the process within the bound.
  installShutdownWatchdog(createLogger('scorer', config.LOG_LEVEL), {
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
  const app = await createScorerApp();
  await app.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT });
}

main().catch((err: Error) => {
  process.stderr.write(
    JSON.stringify({ level: 'fatal', app: 'scorer', msg: err.message, stack: err.stack }) + '\n',
  );
  process.exit(1);
});
