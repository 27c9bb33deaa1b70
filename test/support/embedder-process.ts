import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { jsonLogRecords, keepOutputLines } from './child-logs';
import { freePort } from './free-port';

const ROOT = join(__dirname, '..', '..');

/** apps/embedder/src/main.ts as a child process (its queue consumer and encoders), as it runs in production. */
export class EmbedderProcess {
  readonly logs: string[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;

  private constructor(private readonly env: Record<string, string>) {}

  /** Starts it with the current environment plus `env` and waits until its worker consumes. */
  static async start(env: Record<string, string>, timeoutMs = 120_000): Promise<EmbedderProcess> {
    const p = new EmbedderProcess(env);
    await p.run(await freePort(), timeoutMs);
    return p;
  }

  private async run(port: number, timeoutMs: number): Promise<void> {
    const child = spawn(process.execPath, ['-r', './scripts/register.js', 'apps/embedder/src/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        LOG_LEVEL: 'info',
        ...this.env,
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    keepOutputLines(child, this.logs);
    const deadline = Date.now() + timeoutMs;
    while (!this.logs.some((l) => l.includes('embedding worker started'))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`the embedder did not start:\n${this.logs.slice(-30).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The JSON log lines whose msg is `msg`. */
  logged(msg: string): Record<string, unknown>[] {
    return jsonLogRecords(this.logs).filter((o) => o.msg === msg);
  }

  /** SIGTERM: it drains its active jobs and flushes its writes before exiting. */
  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }
}
