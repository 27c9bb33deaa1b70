import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { freePort } from '../free-port';
import { sleep } from './ingest-process';

const ROOT = join(__dirname, '..', '..', '..');
const KAFKA_VERSION = process.env.KAFKA_VERSION ?? '3.9.1';
const LIBS = join(process.env.MMCTR_CACHE_DIR ?? join(ROOT, '.cache'), `kafka-${KAFKA_VERSION}`, 'libs');
const run = promisify(execFile);

/**
 * A single-node KRaft broker of one test's own, from the jars deploy/local/up downloaded, on free ports
 * with a temporary data directory: a test may kill and restart it without touching the shared stack.
 */
export class ThrowawayKafka {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private dir = '';
  private props = '';
  port = 0;

  get brokers(): string {
    return `127.0.0.1:${this.port}`;
  }

  private jvm(): string[] {
    return [
      '-Xms128m',
      '-Xmx512m',
      '-XX:+UseG1GC',
      '-Djava.awt.headless=true',
      `-Dlog4j.configuration=file:${join(ROOT, 'deploy', 'local', 'kafka', 'log4j.properties')}`,
      `-Dkafka.logs.dir=${join(this.dir, 'logs')}`,
      '-cp',
      `${LIBS}/*`,
    ];
  }

  async setUp(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'mmctr-kafka-'));
    this.port = await freePort();
    const controller = await freePort();
    const template = await readFile(join(ROOT, 'deploy', 'local', 'kafka', 'server.properties.tmpl'), 'utf8');
    this.props = join(this.dir, 'server.properties');
    await writeFile(
      this.props,
      template
        .split('@BROKER_PORT@')
        .join(String(this.port))
        .split('@CONTROLLER_PORT@')
        .join(String(controller))
        .split('@DATA_DIR@')
        .join(join(this.dir, 'data')),
    );
    const { stdout } = await run('java', [...this.jvm(), 'kafka.tools.StorageTool', 'random-uuid']);
    await run('java', [
      ...this.jvm(),
      'kafka.tools.StorageTool',
      'format',
      '-t',
      stdout.trim(),
      '-c',
      this.props,
      '--ignore-formatted',
    ]);
  }

  /** Starts the broker (again, on the same ports and data) and waits until it answers. */
  async start(): Promise<void> {
    const child = spawn('java', [...this.jvm(), 'kafka.Kafka', this.props], { stdio: 'ignore' });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const kafka = new Kafka({ brokers: [this.brokers], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
    const deadline = Date.now() + 120_000;
    for (;;) {
      const admin = kafka.admin();
      try {
        await admin.connect();
        await admin.describeCluster();
        await admin.disconnect();
        return;
      } catch {
        await admin.disconnect().catch(() => undefined);
        if (child.exitCode !== null) throw new Error(`throwaway Kafka broker exited (${child.exitCode})`);
        if (Date.now() > deadline) throw new Error('throwaway Kafka broker did not answer within 120 s');
        await sleep(500);
      }
    }
  }

  /** kill -9: no clean shutdown, as in a crash. */
  async kill(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }

  async tearDown(): Promise<void> {
    await this.kill();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
