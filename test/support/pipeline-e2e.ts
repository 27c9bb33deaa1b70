// What the repository pipeline e2e specs (Kafka -> ingest -> mmctr-train -> scorer -> parity) share.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import type { ClickHouseService } from '@mmctr/clickhouse';
import { DLQ_HEADERS } from '@mmctr/contracts';
import {
  scorerSuite,
  waitFor,
  type RunningScorer,
  type ScorerSuite,
} from '../../apps/scorer/test/support/scorer-harness';
import type { IsolatedNames } from './ingest/fixtures';
import { readTopic } from './ingest/read-topic';
import { ingestSuite } from './ingest/suite';
import { groupCaughtUp } from './kafka-group';
import { replayAndLog, type ReplayedRequest } from './replay-check';
import { promote, trainAndRegister } from './trainer-cli';

/** How many of `xs` have each `key`. */
export const countBy = <T>(xs: readonly T[], key: (x: T) => string): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return out;
};

/**
 * Declares a folder made before the suite (under the OS temporary folder, named from `prefix`) and
 * removed after it; `path()` names it from the first beforeAll on.
 */
export function suiteTempDir(prefix: string): { path(): string } {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return {
    path() {
      if (!dir) throw new Error(`${prefix}: the folder is made in beforeAll`);
      return dir;
    },
  };
}

/**
 * Declares, in a pipeline spec's describe(), the suites its steps run on: ingest's (ingestSuite), the
 * scorer's on a database of its own (scorerSuite with `scorerOverrides`) and a temporary folder
 * (suiteTempDir with `tempPrefix`).
 */
export function declareSuites(tempPrefix: string, scorerOverrides: Record<string, string> = {}) {
  const ingest = ingestSuite();
  const suite = scorerSuite(scorerOverrides);
  const work = suiteTempDir(tempPrefix);
  return { ingest, suite, work };
}

/** Waits (up to 2 minutes) until ingest's consumer group has committed everything produced to `topics`. */
export async function waitIngestCaughtUp(
  kafka: Kafka,
  names: IsolatedNames,
  topics: string[],
): Promise<void> {
  await waitFor(
    'ingest to commit everything produced',
    () => groupCaughtUp(kafka, names.env.INGEST_GROUP_ID, topics),
    120_000,
  );
}

/** A message a spec expects ingest to dead-letter: `label` names it in a failure (values may be large). */
export interface ExpectedDeadLetter {
  label: string;
  value: string;
  /** The topic it was sent to. */
  topic: string;
  reason: RegExp;
}

/** Expects ingest's DLQ (`names`) to hold exactly `expected`, each with its source topic and reason. */
export async function expectDeadLetters(
  kafka: Kafka,
  names: IsolatedNames,
  expected: readonly ExpectedDeadLetter[],
): Promise<void> {
  const dlq = await readTopic(kafka, names.env.KAFKA_TOPIC_DLQ, expected.length);
  expect(dlq).toHaveLength(expected.length);
  for (const m of expected) {
    const letter = dlq.find((l) => l.value === m.value);
    expect({ label: m.label, topic: letter?.headers[DLQ_HEADERS.topic] }).toEqual({
      label: m.label,
      topic: m.topic,
    });
    expect(letter?.headers[DLQ_HEADERS.reason]).toMatch(m.reason);
  }
}

/** What the specs read of a trained artifact's metrics.json. */
interface ArtifactMetrics {
  val: { rows: number; auc: number };
  test: { rows: number; auc: number };
  onnx: { max_abs_diff: number };
}

/** A model trained, registered and promoted: its registry folder and version. */
export interface TrainedModel {
  registry: string;
  version: string;
}

/** The split a spec trains on: [trainEndMs, valEndMs) validates, [valEndMs, ...) tests. */
export interface TrainSplit {
  trainEndMs: number;
  valEndMs: number;
}

/**
 * `mmctr-train train` of a tiny QIN for `maxEpochs` on `database` (the repository `featureRepo`, the
 * demo's when absent) with `split`, its set and registry under `dir`, then `mmctr-train promote`; the
 * registry folder and the registered version.
 */
export async function trainTinyAndPromote(
  database: string,
  dir: string,
  run: TrainSplit & { featureRepo?: string; maxEpochs: number },
): Promise<TrainedModel> {
  const registry = join(dir, 'registry');
  const version = await trainAndRegister([
    ...['--database', database, ...(run.featureRepo ? ['--feature-repo', run.featureRepo] : [])],
    ...['--model', 'qin', '--config', 'tiny', '--max-epochs', String(run.maxEpochs)],
    ...['--train-end-ms', String(run.trainEndMs), '--val-end-ms', String(run.valEndMs)],
    ...['--registry', registry, '--trainset', join(dir, 'trainset')],
  ]);
  await promote(database, version);
  return { registry, version };
}

/**
 * Expects the metrics of artifact `version` in `registry`: the validation and test rows are the
 * impressions (their `impressionTs`) of [trainEndMs, valEndMs) and [valEndMs, ...), each AUC given a
 * floor is above it, and the ONNX graph gives the model's CTRs (max |dp| <= 1e-4).
 */
export async function expectTrainedMetrics(
  registry: string,
  version: string,
  split: TrainSplit & { impressionTs: readonly number[] },
  auc: { val?: number; test?: number } = {},
): Promise<void> {
  const metrics = JSON.parse(
    await readFile(join(registry, version, 'metrics.json'), 'utf8'),
  ) as ArtifactMetrics;
  const impressions = (from: number, to: number) =>
    split.impressionTs.filter((t) => t >= from && t < to).length;
  expect({ val: metrics.val.rows, test: metrics.test.rows }).toEqual({
    val: impressions(split.trainEndMs, split.valEndMs),
    test: impressions(split.valEndMs, Infinity),
  });
  if (auc.val !== undefined) expect(metrics.val.auc).toBeGreaterThan(auc.val);
  if (auc.test !== undefined) expect(metrics.test.auc).toBeGreaterThan(auc.test);
  expect(metrics.onnx.max_abs_diff).toBeLessThanOrEqual(1e-4);
}

/**
 * The train step of a pipeline spec on `suite`'s database: trainTinyAndPromote, then expectTrainedMetrics (the split's rows
 * from `impressionTs`, the AUC floors `auc`) and expectProductionVersion; the registry and the version.
 */
export async function trainCheckAndPromote(
  suite: ScorerSuite,
  dir: string,
  run: TrainSplit & { featureRepo?: string; maxEpochs: number; impressionTs: readonly number[] },
  auc: { val?: number; test?: number } = {},
): Promise<TrainedModel> {
  const { impressionTs, ...train } = run;
  const trained = await trainTinyAndPromote(suite.env.database, dir, train);
  const split = { impressionTs, trainEndMs: run.trainEndMs, valEndMs: run.valEndMs };
  await expectTrainedMetrics(trained.registry, trained.version, split, auc);
  await expectProductionVersion(suite.env.ch, trained.version);
  return trained;
}

/** Expects `version` to be the registry's production version. */
export async function expectProductionVersion(ch: ClickHouseService, version: string): Promise<void> {
  const [row] = await ch.query<{ version: string }>(
    "SELECT version FROM models_current WHERE status = 'production'",
  );
  expect(row?.version).toBe(version);
}

/**
 * Starts a scorer of `suite` on the ingested online store (`names`), with `env` besides, and waits
 * until it serves `version`.
 */
export async function startServing(
  suite: ScorerSuite,
  names: IsolatedNames,
  version: string,
  env: Record<string, string> = {},
): Promise<RunningScorer> {
  const scorer = await suite.start({ REDIS_KEY_PREFIX: names.env.REDIS_KEY_PREFIX, ...env });
  await scorer.waitServing(version);
  return scorer;
}

/**
 * Starts a scorer serving `version` (startServing) and replays `requests` through it (replayAndLog:
 * each answered, then each in score_log).
 */
export async function serveAndLog(
  suite: ScorerSuite,
  names: IsolatedNames,
  version: string,
  requests: readonly ReplayedRequest[],
): Promise<void> {
  const scorer = await startServing(suite, names, version);
  await replayAndLog(scorer, suite.env.ch, version, requests);
}
