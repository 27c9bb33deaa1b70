// Shared setup of the scorer's e2e suites: real ClickHouse (a database of their own, migrated),
// real Kafka (a scores topic and sink group of their own), real Redis (a key prefix of their own).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawn, type ChildProcess } from 'node:child_process';
import type { OfflineInput } from './offline-score';
import { TEST_MODEL_SCRIPT, testModelSourcesHash } from './test-model-source';
import { freePort } from '../../../../test/support/free-port';
import { loadConfig } from '@mmctr/config';
import { loadFeatureSpec } from '@mmctr/features';
import { ClickHouseService, MigrationRunner, clickHouseFromConfig, loadMigrations } from '@mmctr/clickhouse';
import { createKafka, ensureTopics } from '@mmctr/kafka';
import { MIGRATIONS_DIR } from '@mmctr/clickhouse/src/migrations/migrate.cli';
import { adminClickHouse, uniqueName } from '../../../../test/support/clients';

export const REPO = join(__dirname, '..', '..', '..', '..');
const MODELS = join(REPO, '.cache', 'scorer-test-models');
const run = promisify(execFile);

/**
 * A deterministic test model (generated once, cached under .cache/ by the fixture's and the feature
 * spec's source hash). `age`: the graph takes hist_age (feature spec fs-2); without it, the older
 * signature. `nanOnVector`: the CTR is NaN for every candidate with a non-zero vector (finite on
 * all-zero synthetic inputs; a broken model for the fallback tests).
 */
export async function testModel(
  name: string,
  seed: number,
  emb = 8,
  age = false,
  nanOnVector = false,
): Promise<string> {
  const flags = [...(age ? ['--age'] : []), ...(nanOnVector ? ['--nan-on-vector'] : [])];
  const dir = join(MODELS, `${name}-s${seed}-e${emb}${flags.join('')}-${testModelSourcesHash()}`);
  if (!existsSync(join(dir, 'model.onnx'))) {
    await run(join(REPO, '.venv', 'bin', 'python'), [
      TEST_MODEL_SCRIPT,
      dir,
      '--seed',
      String(seed),
      '--emb',
      String(emb),
      ...flags,
    ]);
  }
  return dir;
}

/** The feature spec version of an artifact folder (cached test models may predate the current spec). */
export async function specVersion(dir: string): Promise<string> {
  return loadFeatureSpec(join(dir, 'feature_spec.json')).version;
}

/** An artifact folder whose model.onnx is not a model (a valid spec, so only the session fails). */
export async function brokenModel(from: string): Promise<string> {
  const dir = join(MODELS, uniqueName('broken'));
  await mkdir(dir, { recursive: true });
  await copyFile(join(from, 'feature_spec.json'), join(dir, 'feature_spec.json'));
  await writeFile(join(dir, 'model.onnx'), Buffer.from('this is not an onnx graph'));
  return dir;
}

export interface ScorerEnv {
  database: string;
  topic: string;
  prefix: string;
  ch: ClickHouseService;
  restore(): Promise<void>;
}

/** Points the scorer's configuration at fresh, private resources and returns them. */
export async function scorerEnv(overrides: Record<string, string> = {}): Promise<ScorerEnv> {
  const saved = { ...process.env };
  const database = uniqueName('scorer_test');
  const topic = uniqueName('mmctr.scores.test');
  const prefix = `${uniqueName('scorer')}:`;
  const admin = adminClickHouse();
  await new MigrationRunner(admin, database, loadMigrations(MIGRATIONS_DIR)).migrate();
  Object.assign(process.env, {
    CLICKHOUSE_DATABASE: database,
    KAFKA_TOPIC_SCORES: topic,
    SCORE_LOG_SINK_GROUP_ID: uniqueName('scorer-sink'),
    REDIS_KEY_PREFIX: prefix,
    LOG_LEVEL: 'warn',
    SCORER_REGISTRY_POLL_MS: '200',
    SCORER_MODEL_RETRY_MS: '600000',
    SCORER_SCORE_LOG_FLUSH_MS: '20',
    // Generous: these suites check behaviour, not latency, on a shared 2-core machine.
    SCORER_REDIS_TIMEOUT_MS: '2000',
    ...overrides,
  });
  const config = loadConfig();
  await ensureTopics(createKafka(config), [{ topic, numPartitions: 2, replicationFactor: 1 }]);
  const ch = clickHouseFromConfig(config);
  return {
    database,
    topic,
    prefix,
    ch,
    async restore() {
      await ch.close();
      await admin.command(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
      await admin.close();
      const kafkaAdmin = createKafka(config).admin();
      await kafkaAdmin.connect();
      await kafkaAdmin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await kafkaAdmin.disconnect();
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    },
  };
}

export interface RunningScorer {
  url: string;
  /** Everything the process wrote (JSON log lines). */
  output: () => string;
  close(): Promise<void>;
}

/**
 * Runs the scorer as its own process (as deployed; onnxruntime's native tensors also need a plain
 * Node realm, not Jest's sandbox) with the current environment plus `env`, and waits until it listens.
 */
export async function startScorer(env: Record<string, string> = {}): Promise<RunningScorer> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    ['-r', join(REPO, 'scripts', 'register.js'), join(REPO, 'apps', 'scorer', 'src', 'main.ts')],
    {
      cwd: REPO,
      env: { ...process.env, HTTP_HOST: '127.0.0.1', HTTP_PORT: String(port), ...env },
      stdio: 'pipe',
    },
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor('the scorer to listen', async () => {
      if (child.exitCode !== null) throw new Error(`scorer exited: ${output}`);
      return (await fetch(`${url}/health/live`)).ok;
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${output.slice(-4000)}`);
  }
  return {
    url,
    output: () => output,
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** CTRs from libs/features encoders + a plain session (child process): the offline recomputation. */
export async function offlineScore(modelDir: string, input: OfflineInput): Promise<number[]> {
  const child = spawn(
    process.execPath,
    ['-r', join(REPO, 'scripts', 'register.js'), join(__dirname, 'offline-score.ts'), modelDir],
    { cwd: REPO, stdio: 'pipe' },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin.end(JSON.stringify(input));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`offline scoring failed (${code}): ${err}`);
  return JSON.parse(out) as number[];
}

let updated = Date.now();
/** Writes a registry row (a newer updated_ms than any before it). */
export async function registerModel(
  ch: ClickHouseService,
  version: string,
  dir: string,
  status: 'candidate' | 'production' | 'retired',
): Promise<void> {
  updated = Math.max(updated + 1, Date.now());
  await ch.insert('models', [
    {
      version,
      model_type: 'test-qin',
      status,
      artifact_uri: dir,
      feature_spec_version: await specVersion(dir).catch(() => 'fs-1'),
      metrics: '{}',
      train_from_ms: 0,
      train_to_ms: 0,
      git_rev: '',
      created_at: Math.floor(Date.now() / 1000),
      updated_ms: updated,
    },
  ]);
}

export interface HttpResult<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export async function post<T = unknown>(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<HttpResult<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as T };
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** request_ids that reached score_log (the sink's inserts). */
export async function loggedRequestIds(ch: ClickHouseService): Promise<Set<string>> {
  const rows = await ch.query<{ request_id: string }>('SELECT DISTINCT request_id FROM score_log');
  return new Set(rows.map((r) => r.request_id));
}
