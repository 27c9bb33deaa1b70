import type { Logger } from 'pino';

export interface ShutdownWatchdogOptions {
  timeoutMs: number;
  signals?: readonly NodeJS.Signals[];
  /** Ends the process; process.exit outside tests. */
  exit?: (code: number) => void;
}

/**
 * Bounds graceful shutdown. On the first SIGTERM/SIGINT it starts a timer; if the process is still
 * alive when it fires (a flush or a client's close waiting on a store that never answers), it logs an
 * error and exits with code 1. The timer is unref'd, so a shutdown that finishes is never delayed.
 *
 * Install it before the app registers its own shutdown hooks. When no other listener handles the
 * signal (the app has not registered its hooks yet, or they have finished and re-raised it), the
 * signal gets its default action again, so the watchdog never turns a kill into a wait.
 * Returns a function that removes it.
 */
export function installShutdownWatchdog(log: Logger, options: ShutdownWatchdogOptions): () => void {
  const { timeoutMs, signals = ['SIGTERM', 'SIGINT'], exit = (code) => process.exit(code) } = options;
  let timer: NodeJS.Timeout | undefined;

  const remove = () => {
    for (const s of signals) process.removeListener(s, onSignal);
    clearTimeout(timer);
  };

  function onSignal(signal: NodeJS.Signals): void {
    if (process.listenerCount(signal) <= 1) {
      // Nobody else will shut down: let the signal do what it does by default.
      for (const s of signals) process.removeListener(s, onSignal);
      process.kill(process.pid, signal);
      return;
    }
    if (timer) return;
    log.info({ signal, timeout_ms: timeoutMs }, 'shutdown started');
    timer = setTimeout(() => {
      log.error(
        { signal, timeout_ms: timeoutMs },
        'shutdown did not finish within SHUTDOWN_TIMEOUT_MS; forcing exit',
      );
      exit(1);
    }, timeoutMs);
    timer.unref();
  }

  for (const s of signals) process.on(s, onSignal);
  return remove;
}
