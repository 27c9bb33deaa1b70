// SIGTERM ends an app within SHUTDOWN_TIMEOUT_MS even when a store never answers: ingest and the
// dashboard run as real processes against the real Kafka and ClickHouse, with REDIS_URL pointing at a
// port nobody listens on, so a shutdown that waits on Redis cannot complete on its own.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../support/free-port';
import { ingestSuite } from '../support/ingest/suite';

const SHUTDOWN_TIMEOUT_MS = 3_000;
// The bound plus room for a loaded 2-core box to deliver the signal and the exit.
const DEADLINE_MS = SHUTDOWN_TIMEOUT_MS + 20_000;

function within<T>(p: Promise<T>, ms: number): Promise<T | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still running'>((r) => (timer = setTimeout(() => r('still running'), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

describe('shutdown watchdog (Redis unreachable)', () => {
  const suite = ingestSuite();

  it('exits with a logged error within SHUTDOWN_TIMEOUT_MS after SIGTERM', async () => {
    const names = await suite.names('shutdown');
    const deadRedis = await freePort(); // free a moment ago, nothing listens there
    const ingest = await suite.startIngest(names, {
      REDIS_URL: `redis://127.0.0.1:${deadRedis}`,
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    });
    const exit = await within(ingest.kill('SIGTERM'), DEADLINE_MS);
    expect(exit).toEqual({ code: 1, signal: null });
    expect(ingest.messages()).toContain('shutdown did not finish within SHUTDOWN_TIMEOUT_MS; forcing exit');
  });

  it('ends the dashboard within SHUTDOWN_TIMEOUT_MS after SIGTERM', async () => {
    const deadRedis = await freePort();
    const logs: string[] = [];
    const child = spawn(process.execPath, ['-r', './scripts/register.js', 'apps/dashboard/src/main.ts'], {
      cwd: join(__dirname, '..', '..'),
      env: {
        ...process.env,
        REDIS_URL: `redis://127.0.0.1:${deadRedis}`,
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: '0',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
      child.once('exit', (code, signal) => r({ code, signal })),
    );
    const listening = new Promise<void>((resolve) => {
      child.stdout.on('data', (buf: Buffer) => {
        logs.push(buf.toString());
        if (logs.join('').includes('dashboard listening')) resolve();
      });
    });
    child.stderr.on('data', (buf: Buffer) => logs.push(buf.toString()));
    try {
      const started = await within(listening, 120_000);
      expect([started, logs.join('').slice(-2_000)]).toEqual([undefined, expect.any(String)]);
      child.kill('SIGTERM');
      const exit = await within(exited, DEADLINE_MS);
      expect(exit).not.toBe('still running');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
