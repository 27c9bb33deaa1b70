// Shared setup of the scorer's e2e suites: real ClickHouse (a database of their own, migrated),
// real Kafka (a scores topic and sink group of their own), real Redis (a key prefix of their own).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawn, type ChildProcess } from 'node:child_process';
import { TEST_MODEL_SCRIPT, testModelSourcesHash } from './test-model-source';
import { freePort } from '../../../../test/support/free-port';
import { jsonLogRecords } from '../../../../test/support/child-logs';
import { loadConfig } from '@mmctr/config';
import {
  ClickHouseService,
  MigrationRunner,
  clickHouseFromConfig,
  loadMigrations,
  MIGRATIONS_DIR,
} from '@mmctr/clickhouse';
import { createKafka, ensureTopics } from '@mmctr/kafka';
import type { BehaviourEvent, CatalogueItem } from '@mmctr/contracts';
import { OnlineStore, createRedis, mmVectorKey } from '@mmctr/online-store';
import type { ScoreResponse } from '@mmctr/scorer';
import { applyRunningRepo } from '../../../../test/support/apply-running-repo';
import type { OfflineRequest } from './offline-score';
import { withTimeout } from '../../src/with-timeout';
import { adminClickHouse, uniqueName } from '../../../../test/support/clients';

export const REPO = join(__dirname, '..', '..', '..', '..');
const MODELS = join(REPO, '.cache', 'scorer-test-models');
const run = promisify(execFile);

/**
 * A deterministic test model with the demo repository's layout (generated once, cached under .cache/
 * by the fixture's and the layout's source hash). `nanOnVector`: the CTR is NaN for every candidate
 * with a non-zero vector (finite on all-zero synthetic inputs; a broken model for the fallback tests).
 */
export async function testModel(name: string, seed: number, emb = 8, nanOnVector = false): Promise<string> {
  const flags = nanOnVector ? ['--nan-on-vector'] : [];
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

/** The feature repository version an artifact folder's layout.json was exported for. */
export async function specVersion(dir: string): Promise<string> {
  const layout = JSON.parse(await readFile(join(dir, 'layout.json'), 'utf8')) as {
    repository: { version: string };
  };
  return layout.repository.version;
}

/** An artifact folder whose model.onnx is not a model (a valid layout, so only the session fails). */
export async function brokenModel(from: string): Promise<string> {
  const dir = join(MODELS, uniqueName('broken'));
  await mkdir(dir, { recursive: true });
  await copyFile(join(from, 'layout.json'), join(dir, 'layout.json'));
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
    // No default deadline (a suite testing admission sets its own): slow shared-box answers are not shed.
    SCORER_DEFAULT_DEADLINE_MS: '0',
    ...overrides,
  });
  const config = loadConfig();
  // The scorer refuses a database its feature repository was never applied to.
  await applyRunningRepo(admin, database, config);
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

/** The body of /health/ready. */
export interface ReadyBody {
  status?: string;
  model_version: string | null;
  shadow_model_version?: string | null;
  [key: string]: unknown;
}

export interface RunningScorer {
  url: string;
  /** Everything the process wrote (JSON log lines). */
  output: () => string;
  /** The process's JSON log lines whose msg is `msg`. */
  logged(msg: string): Record<string, unknown>[];
  /** POST /v1/score. */
  score<T = ScoreResponse>(body: unknown, headers?: Record<string, string>): Promise<HttpResult<T>>;
  /** GET /metrics (Prometheus text). */
  metrics(): Promise<string>;
  /** GET /health/ready. */
  ready(): Promise<{ ok: boolean; body: ReadyBody }>;
  /** Waits until /health/ready answers 200 (and, given `version`, serves that production version). */
  waitServing(version?: string, timeoutMs?: number): Promise<void>;
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
  const ready = async () => {
    const res = await fetch(`${url}/health/ready`);
    return { ok: res.ok, body: (await res.json()) as ReadyBody };
  };
  return {
    url,
    output: () => output,
    logged: (msg) => jsonLogRecords(output.split('\n')).filter((l) => l.msg === msg),
    score: (body, headers) => post(`${url}/v1/score`, body, headers),
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    ready,
    async waitServing(version, timeoutMs = 120_000) {
      // Loading and warming several versions on a loaded 2-core box can take over a minute; a timeout
      // shows the last readiness answer and the scorer's own log, so a real hang is told from slowness.
      let last: unknown;
      try {
        await waitFor(
          version ? `${version} serving` : 'a model serving',
          async () => {
            const r = await ready();
            last = r.body;
            return r.ok && (!version || r.body.model_version === version);
          },
          timeoutMs,
        );
      } catch (err) {
        const exit = child.exitCode === null ? 'running' : `exited ${child.exitCode}`;
        throw new Error(
          `${(err as Error).message} (scorer ${exit}; last /health/ready ${JSON.stringify(last)})\n${output.slice(-4000)}`,
        );
      }
    },
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      // withTimeout clears its timer once the scorer exits, so no timer holds jest open for 10 s.
      await withTimeout(exited, 10_000, 'scorer exit').catch(() => undefined);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * CTRs from libs/features LayoutEncoder + a plain session (child process): the offline recomputation.
 * `env` reaches the child (FEATURE_REPO: the repository whose layout it encodes; the demo's by default).
 */
export async function offlineScore(
  modelDir: string,
  input: OfflineRequest,
  env: Record<string, string> = {},
): Promise<number[]> {
  const child = spawn(
    process.execPath,
    ['-r', join(REPO, 'scripts', 'register.js'), join(__dirname, 'offline-score.ts'), modelDir],
    { cwd: REPO, stdio: 'pipe', env: { ...process.env, ...env } },
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
      feature_spec_version: await specVersion(dir).catch(() => ''),
      metrics: '{}',
      train_from_ms: 0,
      train_to_ms: 0,
      git_rev: '',
      created_at: Math.floor(Date.now() / 1000),
      updated_ms: updated,
    },
  ]);
}

export interface ScorerSuite {
  /** The suite's private resources (from its first beforeAll on). */
  readonly env: ScorerEnv;
  /** The scorer start() started last. */
  readonly scorer: RunningScorer;
  /** Starts a scorer on the suite's resources plus `env`; it is closed by the suite's hooks. */
  start(env?: Record<string, string>): Promise<RunningScorer>;
}

/**
 * Declares a scorer suite's hooks: beforeAll points the configuration at private resources
 * (scorerEnv(overrides)); every scorer started through the suite is closed after each test
 * (`closeAfterEach`) or after the suite, and the resources are dropped after the suite.
 */
export function scorerSuite(
  overrides: Record<string, string> = {},
  { closeAfterEach = false }: { closeAfterEach?: boolean } = {},
): ScorerSuite {
  let env: ScorerEnv | undefined;
  const started: RunningScorer[] = [];
  const closeAll = async () => {
    for (const s of started.splice(0)) await s.close();
  };
  beforeAll(async () => {
    env = await scorerEnv(overrides);
  });
  if (closeAfterEach) afterEach(closeAll);
  afterAll(async () => {
    await closeAll();
    await env?.restore();
  });
  return {
    get env() {
      if (!env) throw new Error('the suite environment is set up in beforeAll');
      return env;
    },
    get scorer() {
      const s = started.at(-1);
      if (!s) throw new Error('no scorer started in this suite');
      return s;
    },
    async start(extra = {}) {
      const s = await startScorer(extra);
      started.push(s);
      return s;
    },
  };
}

/**
 * A deterministic fused embedding of the demo's width (128) for test item `seed`, values in [-0.5, 0.5]:
 * `wave(seed * perSeed + i * perIndex) / 2` (each suite its own constants, so suites' items differ).
 */
export const waveVector = (seed: number, perSeed: number, perIndex: number, wave: (x: number) => number) =>
  Array.from({ length: 128 }, (_, i) => wave(seed * perSeed + i * perIndex) * 0.5);

/** An item a suite puts in its catalogue; `vector` is its fused embedding (none when null). */
export interface TestItem {
  item_id: string;
  category: string;
  tags: string[];
  title?: string;
  vector?: number[] | null;
}

/** An `items` row (updated_at from ts_ms; title `title <item_id>` unless given). */
export const itemRow = (it: TestItem & { ts_ms: number; content_hash?: string }) => ({
  item_id: it.item_id,
  ts_ms: it.ts_ms,
  updated_at: Math.floor(it.ts_ms / 1000),
  title: it.title ?? `title ${it.item_id}`,
  description: '',
  category: it.category,
  tags: it.tags,
  image: '',
  content_hash: it.content_hash ?? 'h',
  schema_version: 1,
  ingested_at: Math.floor(Date.now() / 1000),
});

/** An `item_embeddings` row holding `vector` as the fused vector (the one the scorer reads). */
export const embeddingRow = (item_id: string, vector: number[], created_ms: number, content_hash = 'h') => ({
  item_id,
  content_hash,
  image_vec: [],
  text_vec: [],
  fused_vec: vector,
  image_encoder: 'test',
  text_encoder: 'test',
  projection_version: 'p1',
  created_ms,
  created_at: Math.floor(created_ms / 1000),
});

/** Items in ClickHouse (the item cache's start-up load): changed a minute before `now`, embedded after. */
export async function insertCatalogue(ch: ClickHouseService, items: TestItem[], now: number): Promise<void> {
  await ch.insert(
    'items',
    items.map((it) => itemRow({ ...it, ts_ms: now - 60_000 })),
  );
  await ch.insert(
    'item_embeddings',
    items.flatMap((it) => (it.vector ? [embeddingRow(it.item_id, it.vector, now - 30_000)] : [])),
  );
}

/** Runs `fn` with an OnlineStore on `prefix` (click histories, as ingest writes them), then disconnects. */
async function withOnlineStore<T>(
  prefix: string,
  fn: (store: OnlineStore, redis: ReturnType<typeof createRedis>) => Promise<T>,
): Promise<T> {
  const redis = createRedis(loadConfig());
  try {
    const store = new OnlineStore(redis, { keyPrefix: prefix, types: ['click'], cap: 100, historyTtlS: 600 });
    return await fn(store, redis);
  } finally {
    redis.disconnect();
  }
}

/** Items only Redis knows (the scorer's miss path): catalogue entries and fused vectors under `prefix`. */
export async function putRedisItems(prefix: string, items: TestItem[], now: number): Promise<void> {
  await withOnlineStore(prefix, async (store, redis) => {
    const catalogue: CatalogueItem[] = items.map((it) => ({
      schema_version: 1,
      item_id: it.item_id,
      ts_ms: now - 10_000,
      title: it.title ?? `title ${it.item_id}`,
      category: it.category,
      tags: it.tags,
    }));
    await store.upsertItems(catalogue);
    for (const it of items) {
      if (!it.vector) continue;
      const v = Float32Array.from(it.vector);
      await redis.hset(mmVectorKey(prefix, it.item_id), 'ts_ms', now, 'v', Buffer.from(v.buffer));
    }
  });
}

/** A click as ingest records it in the user's history. */
export const clickEvent = (
  user_id: string,
  item_id: string,
  ts_ms: number,
  event_id: string,
  request_id: string,
): BehaviourEvent => ({ schema_version: 1, event_id, type: 'click', ts_ms, user_id, item_id, request_id });

/** Click histories under `prefix`. */
export async function recordClicks(prefix: string, clicks: BehaviourEvent[]): Promise<void> {
  await withOnlineStore(prefix, (store) => store.recordBehaviour(clicks));
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
