import { spawn, type ChildProcess } from 'node:child_process';
import { keepOutputLines, jsonLogRecords } from '../child-logs';
import { freePort } from '../free-port';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** apps/ingest/src/main.ts as a child process, the way it runs in production. */
export class IngestProcess {
  readonly logs: string[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<{ code: number | null; signal: string | null }> | undefined;

  constructor(
    private readonly env: Record<string, string>,
    readonly port: number,
  ) {}

  static async start(env: Record<string, string>): Promise<IngestProcess> {
    const p = new IngestProcess(env, await freePort());
    await p.start();
    return p;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    // INGEST_NODE_ARGS: extra node flags for the child, e.g. `--cpu-prof` when profiling the benchmark.
    // The young-generation size production runs with (deploy/k8s/ingest.yaml, scripts/demo.sh).
    const extra = [
      '--max-semi-space-size=64',
      ...(process.env.INGEST_NODE_ARGS ?? '').split(' ').filter(Boolean),
    ];
    const child = spawn(
      process.execPath,
      [...extra, '-r', './scripts/register.js', 'apps/ingest/src/main.ts'],
      {
        cwd: ROOT,
        env: { ...process.env, ...this.env, HTTP_HOST: '127.0.0.1', HTTP_PORT: String(this.port) },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    // 'close', not 'exit': the last log lines (the shutdown's) are read only once its output streams close.
    this.exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
    keepOutputLines(child, this.logs);
    await this.waitFor(() => this.logs.some((l) => l.includes('consumer group joined')), 'group join');
  }

  /** Waits until `cond` holds, failing early (with the logs) if the process exits. */
  async waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let dead = false;
    void this.exited?.then(() => (dead = true));
    // A condition that cannot reach the process (metrics refused while it dies) is a not-yet, so that
    // an exit is reported with the process's own last logs rather than as a bare fetch error.
    let last: unknown;
    const holds = async () => {
      try {
        return await cond();
      } catch (err) {
        last = err;
        return false;
      }
    };
    while (!(await holds())) {
      if (dead)
        throw new Error(`ingest exited while waiting for ${what}:\n${this.logs.slice(-30).join('\n')}`);
      if (Date.now() > deadline && last !== undefined)
        throw new Error(
          `timed out waiting for ${what} (last error: ${last instanceof Error ? last.message : JSON.stringify(last)}):\n${this.logs.slice(-30).join('\n')}`,
        );
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}:\n${this.logs.slice(-30).join('\n')}`);
      await sleep(200);
    }
  }

  /** The `msg` of each JSON log line so far. */
  messages(): string[] {
    return jsonLogRecords(this.logs).flatMap((o) => (typeof o.msg === 'string' ? [o.msg] : []));
  }

  async metric(name: string): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.split(' ').pop());
    }
    return sum;
  }

  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: string | null }> {
    this.child?.kill(signal);
    return this.exited ?? Promise.resolve({ code: null, signal: null });
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null)
      await this.kill('SIGTERM');
  }
}
