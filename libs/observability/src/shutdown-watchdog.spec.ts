import pino from 'pino';
import { installShutdownWatchdog } from './shutdown-watchdog';

describe('installShutdownWatchdog', () => {
  const records: { level: number; msg: string }[] = [];
  const log = pino(
    { level: 'info' },
    { write: (line: string) => void records.push(JSON.parse(line) as { level: number; msg: string }) },
  );
  const appHook = () => undefined; // stands in for Nest's shutdown listener
  let remove: () => void = () => undefined;

  beforeEach(() => {
    jest.useFakeTimers();
    records.length = 0;
  });
  afterEach(() => {
    remove();
    process.removeListener('SIGTERM', appHook);
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('force-exits with a logged error when shutdown outlives the bound', () => {
    const exit = jest.fn();
    remove = installShutdownWatchdog(log, { timeoutMs: 1_000, exit });
    process.on('SIGTERM', appHook);
    process.emit('SIGTERM', 'SIGTERM');
    process.emit('SIGTERM', 'SIGTERM'); // a second signal does not restart the clock
    jest.advanceTimersByTime(999);
    expect(exit).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(exit).toHaveBeenCalledWith(1);
    expect(records.find((r) => r.level === 50)?.msg).toMatch(/did not finish within SHUTDOWN_TIMEOUT_MS/);
  });

  it('does nothing before a signal arrives', () => {
    const exit = jest.fn();
    remove = installShutdownWatchdog(log, { timeoutMs: 10, exit });
    jest.advanceTimersByTime(1_000);
    expect(exit).not.toHaveBeenCalled();
  });

  it('gives the signal its default action when no app hook handles it', () => {
    const kill = jest.spyOn(process, 'kill').mockImplementation(() => true);
    const exit = jest.fn();
    remove = installShutdownWatchdog(log, { timeoutMs: 10, exit });
    process.emit('SIGTERM', 'SIGTERM');
    expect(kill).toHaveBeenCalledWith(process.pid, 'SIGTERM');
    expect(process.listenerCount('SIGTERM')).toBe(0);
    jest.advanceTimersByTime(1_000);
    expect(exit).not.toHaveBeenCalled();
  });
});
