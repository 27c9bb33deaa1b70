// A bad configuration value stops each app at start-up with a message naming the variable: started
// as real processes, with every other variable pointing at the real local stack.
import { spawn } from 'node:child_process';

interface Exit {
  code: number | null;
  output: string;
}

function startApp(app: string, env: Record<string, string>): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', './scripts/register.js', `apps/${app}/src/main.ts`], {
      env: { ...process.env, HTTP_PORT: '0', LOG_LEVEL: 'error', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    // An app that started in spite of the bad value is a failure: stop it and report what it said.
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('bad configuration stops an app with the variable named', () => {
  it.each([
    ['ingest', { REDIS_URL: 'not-a-url' }, 'REDIS_URL'],
    ['ingest', { KAFKA_BROKERS: '127.0.0.1:99999' }, 'KAFKA_BROKERS'],
    ['ingest', { HTTP_PORT: '' }, 'HTTP_PORT'],
    ['scorer', { SCORER_API_KEYS: ' , ' }, 'SCORER_API_KEYS'],
    ['scorer', { CLICKHOUSE_URL: 'ftp://127.0.0.1:1' }, 'CLICKHOUSE_URL'],
    ['embedder', { REDIS_URL: 'http://127.0.0.1:6379' }, 'REDIS_URL'],
    ['dashboard', { DASHBOARD_API_KEYS: '' }, 'DASHBOARD_API_KEYS'],
  ])('%s with %j', async (app, env, variable) => {
    const exit = await startApp(app, env);
    // The validation error lists each bad variable on its own line: "  <VARIABLE>: <what is wrong>".
    const named = exit.output.includes('Invalid configuration:') && exit.output.includes(`  ${variable}: `);
    expect({ code: exit.code, named }).toEqual({ code: 1, named: true });
  });
});
