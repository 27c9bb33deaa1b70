import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import type { Cluster } from 'ioredis';
import {
  MIGRATIONS_DIR,
  MigrationRunner,
  clickHouseClient,
  clusterOptions,
  loadMigrations,
  type ClickHouseService,
  type ClusterOptions,
} from '@mmctr/clickhouse';
import type { AppConfig } from '@mmctr/config';
import { FeatureStoreRepository, applyRepository, featureRepoFromConfig } from '@mmctr/feature-repo';
import { ensureTopics, platformTopics, withKafkaAdmin } from '@mmctr/kafka';
import { deleteKeysMatching } from '@mmctr/online-store';
import {
  startScorer,
  testModel,
  registerModel,
  waitFor,
  type RunningScorer,
} from '../../../apps/scorer/test/support/scorer-harness';
import { uniqueName } from '../../support/clients';
import { freePort } from '../../support/free-port';
import { isolatedNames } from '../../support/ingest/fixtures';
import { IngestProcess } from '../../support/ingest/ingest-process';

const ROOT = join(__dirname, '..', '..', '..');

/** apps/embedder as a child process; resolves once its HTTP server answers. */
async function startEmbedder(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; output: () => string }> {
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, ['-r', './scripts/register.js', 'apps/embedder/src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env, HTTP_HOST: '127.0.0.1', HTTP_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-20_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  await waitFor(
    'the embedder to listen',
    async () => {
      if (child.exitCode !== null) throw new Error(`embedder exited: ${output}`);
      return (await fetch(`http://127.0.0.1:${port}/health/live`)).ok;
    },
    120_000,
  ).catch((err: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${err.message}\n${output.slice(-4_000)}`);
  });
  return { child, output: () => output };
}

/**
 * The platform under test on the loopback cluster, on names of its own: a cluster database (every
 * migration as cluster DDL, the running feature repository applied), the platform topics at the
 * cluster's replication factor, a registered production model, and the apps as real processes:
 * two ingest replicas (one consumer group), two scorer replicas (one score-log sink group) and one
 * embedder.
 */
export class ChaosApps {
  readonly names = isolatedNames('chaos');
  readonly database = uniqueName('mmctr_chaos');
  readonly ingest: IngestProcess[] = [];
  readonly scorers: RunningScorer[] = [];
  private embedder: { child: ChildProcess; output: () => string } | undefined;
  private readonly projections = mkdtempSync(join(tmpdir(), 'mmctr-chaos-projections-'));
  readonly admin: ClickHouseService;
  readonly ch: ClickHouseService;

  constructor(
    private readonly config: AppConfig,
    private readonly kafka: Kafka,
  ) {
    this.admin = clickHouseClient(config);
    this.ch = clickHouseClient(config, { database: this.database });
  }

  /** What every app of this platform runs with, on top of the cluster's environment. */
  get env(): Record<string, string> {
    return {
      ...this.names.env,
      CLICKHOUSE_DATABASE: this.database,
      KAFKA_TOPIC_SCORES: `mmctr.test.${this.names.id}.scores`,
      SCORE_LOG_SINK_GROUP_ID: `mmctr-test-${this.names.id}-sink`,
      LOG_LEVEL: 'warn',
    };
  }

  get cluster(): ClusterOptions {
    const cluster = clusterOptions(this.config);
    if (!cluster) throw new Error('CLICKHOUSE_CLUSTER is not set (deploy/local/cluster.env)');
    return cluster;
  }

  async setUp(): Promise<void> {
    const migrations = loadMigrations(MIGRATIONS_DIR);
    await new MigrationRunner(this.admin, this.database, migrations, undefined, this.cluster).migrate();
    const applied = await applyRepository(
      new FeatureStoreRepository(this.admin, this.database),
      featureRepoFromConfig(this.config),
      { cluster: this.cluster },
    );
    if (applied.status === 'refused')
      throw new Error(`feature repository refused: ${applied.reasons.join('; ')}`);
    const topics = platformTopics({ ...this.config, ...this.env });
    await ensureTopics(this.kafka, topics);
    await registerModel(this.ch, 'chaos-v1', await testModel('chaos', 1), 'production');
  }

  async startApps(): Promise<void> {
    for (let i = 0; i < 2; i++)
      this.ingest.push(await IngestProcess.start({ ...this.env, LOG_LEVEL: 'info' }));
    for (let i = 0; i < 2; i++) {
      const scorer = await startScorer({
        ...this.env,
        SCORER_REGISTRY_POLL_MS: '1000',
        SCORER_INTRA_OP_THREADS: '1',
        // Load shedding answers 503 by design; these checks count answers a fault turned into errors.
        SCORER_DEFAULT_DEADLINE_MS: '0',
        SCORER_REDIS_TIMEOUT_MS: '250',
      });
      this.scorers.push(scorer);
      await scorer.waitServing('chaos-v1', 120_000);
    }
    this.embedder = await startEmbedder({
      ...this.env,
      EMBEDDER_PROJECTIONS_DIR: this.projections,
      EMBEDDER_INFERENCE_THREADS: '1',
      EMBEDDER_CONCURRENCY: '32',
    });
  }

  /** Writes every app's output to `<dir>/<app>-<n>.log` (to read after a failed run). */
  writeLogs(dir: string): void {
    mkdirSync(dir, { recursive: true });
    this.ingest.forEach((p, i) => writeFileSync(join(dir, `ingest-${i + 1}.log`), p.logs.join('\n')));
    this.scorers.forEach((s, i) => writeFileSync(join(dir, `scorer-${i + 1}.log`), s.output()));
    writeFileSync(join(dir, 'embedder.log'), this.embedder?.output() ?? '');
  }

  async tearDown(redis: Cluster | undefined): Promise<void> {
    await Promise.all(this.ingest.map((p) => p.stop()));
    await Promise.all(this.scorers.map((s) => s.close()));
    this.embedder?.child.kill('SIGTERM');
    await withKafkaAdmin(this.kafka, async (admin) => {
      const topics = platformTopics({ ...this.config, ...this.env }).map((t) => t.topic);
      await admin.deleteTopics({ topics }).catch(() => undefined);
      await admin
        .deleteGroups([this.env.INGEST_GROUP_ID!, this.env.SCORE_LOG_SINK_GROUP_ID!])
        .catch(() => undefined);
    });
    if (redis)
      for (const pattern of [`${this.names.env.REDIS_KEY_PREFIX}*`, `*${this.names.env.EMBEDDINGS_QUEUE}*`])
        await deleteKeysMatching(redis, pattern);
    await this.admin
      .command(`DROP DATABASE IF EXISTS \`${this.database}\` ON CLUSTER ${this.cluster.name}`)
      .catch(() => undefined);
    await Promise.all([this.admin.close(), this.ch.close()]);
    rmSync(this.projections, { recursive: true, force: true });
  }
}
