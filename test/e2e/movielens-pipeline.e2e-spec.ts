// The MovieLens repository through the whole real path: a 2,000-rating dataset in MovieLens-100k's file
// formats, written by the test; `mmctr import movielens` (a child process) sending it through Kafka;
// apps/ingest (a child process) storing it in ClickHouse and Redis and enqueueing each movie's title
// embedding job; apps/embedder (a child process) encoding the titles; `mmctr-train` building the
// point-in-time set with the import's time split, training a tiny model, exporting, registering and
// promoting it; the scorer serving test-period ratings replayed through POST /v1/score; the score-log
// sink writing score_log; and `mmctr-train parity` recomputing every served CTR within 1e-4.
import IORedis from 'ioredis';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scorerSuite, waitFor } from '../../apps/scorer/test/support/scorer-harness';
import { eventMs } from '../../tools/cli/src/commands/import-movielens';
import { splitByTime } from '../../tools/cli/src/commands/import-movielens-split';
import {
  fixtureRating,
  writeMovielensFixture,
  type Fixture,
} from '../../tools/cli/src/commands/import-movielens.testing';
import { uniqueName } from '../support/clients';
import { EmbedderProcess } from '../support/embedder-process';
import type { IsolatedNames } from '../support/ingest/fixtures';
import { ingestSuite } from '../support/ingest/suite';
import { deleteTopics } from '../support/kafka-group';
import { mmctrCli } from '../support/mmctr-cli';
import {
  expectProductionVersion,
  expectTrainedMetrics,
  startServing,
  suiteTempDir,
  trainTinyAndPromote,
  waitIngestCaughtUp,
} from '../support/pipeline-e2e';
import { expectParity, replayAndLog } from '../support/replay-check';

jest.setTimeout(180_000);

const MOVIELENS = join(__dirname, '..', '..', 'feature-repos', 'movielens');
const SIZE = { users: 50, movies: 60, ratings: 2000 };
const REQUESTS = 40;
const ENTITY_TABLES = ['ml_users', 'ml_movies'];
// The text encoder's width (all-MiniLM-L6-v2): the repository's `title` embedding of each movie.
const TITLE_WIDTH = 384;

/**
 * The fixture's ratings (each an impression, at its event time) and the import's time split of them;
 * the builder's boundaries are the first validation and test ratings' event times (a second shared
 * across a boundary goes to the later part).
 */
function ratingsAndSplit(size: typeof SIZE) {
  const ratings = Array.from({ length: size.ratings }, (_, k) => ({
    ...fixtureRating(k, size.users),
    line: k + 1,
  }));
  const split = splitByTime(ratings);
  const trainEndMs = eventMs(split.valid[0]!.tsS);
  const valEndMs = eventMs(split.test[0]!.tsS);
  const impressionTs = ratings.map((r) => eventMs(r.tsS));
  return { split, trainEndMs, valEndMs, impressionTs };
}

describe('the movielens repository end to end (files -> mmctr import -> Kafka -> ingest -> mmctr-train -> scorer -> score_log -> parity)', () => {
  const ingest = ingestSuite();
  const entityPattern = `mmctr.test.${uniqueName('ml-e2e').replace(/_/g, '-')}.{table}`;
  const entityTopic = (table: string) => entityPattern.replace('{table}', table);
  const suite = scorerSuite({ FEATURE_REPO: MOVIELENS, KAFKA_TOPIC_ENTITY_PATTERN: entityPattern });
  const { split, trainEndMs, valEndMs, impressionTs } = ratingsAndSplit(SIZE);
  // One request per test-period rating: the rated movie and two others as candidates.
  const requests = split.test.slice(0, REQUESTS).map((r, k) => ({
    request_id: `ml-replay-${k}`,
    user_id: String(r.user),
    ts_ms: eventMs(r.tsS),
    candidates: [r.movie, ((r.movie + 7) % SIZE.movies) + 1, ((r.movie + 19) % SIZE.movies) + 1].map((m) => ({
      item_id: String(m),
    })),
  }));
  let names: IsolatedNames;
  let fixture: Fixture;
  let version: string;
  let embedder: EmbedderProcess | undefined;

  afterAll(async () => {
    await embedder?.stop();
    await deleteTopics(ingest.kafka(), ENTITY_TABLES.map(entityTopic));
  });
  const work = suiteTempDir('mmctr-ml-e2e-');
  beforeAll(() => {
    fixture = writeMovielensFixture(join(work.path(), 'ml'), SIZE);
  });

  it('mmctr import movielens sends every profile, movie and rating, and ingest stores each once', async () => {
    names = await ingest.names('ml-e2e');
    const env = {
      ...names.env,
      CLICKHOUSE_DATABASE: suite.env.database,
      KAFKA_TOPIC_ENTITY_PATTERN: entityPattern,
    };
    await ingest.startIngest(names, { ...env, FEATURE_REPO: MOVIELENS });
    embedder = await EmbedderProcess.start({ ...env, FEATURE_REPO: MOVIELENS });
    expect(embedder.logged('entity embedding: text encoder')).toMatchObject([
      { embedding: 'title', entity: 'movie', inputs: ['title'], width: TITLE_WIDTH },
    ]);
    const out = await mmctrCli(
      ['import', 'movielens', fixture.dir, '--checksums', fixture.checksums, '--no-progress'],
      env,
    );
    expect(out).toContain(`${SIZE.users} users, ${SIZE.movies} movies, ${SIZE.ratings} impressions`);
    const topics = [names.env.KAFKA_TOPIC_EVENTS, ...ENTITY_TABLES.map(entityTopic)];
    await waitIngestCaughtUp(ingest.kafka(), names, topics);
    const ch = suite.env.ch;
    const byType = await ch.query<{ type: string; n: string }>(
      'SELECT toString(type) AS type, count() AS n FROM ml_events FINAL GROUP BY type ORDER BY type',
    );
    expect(byType.map((r) => [r.type, Number(r.n)])).toEqual([
      ['click', fixture.clicks],
      ['impression', SIZE.ratings],
    ]);
    for (const [table, n] of [
      ['ml_users', SIZE.users],
      ['ml_movies', SIZE.movies],
    ] as const) {
      const [row] = await ch.query<{ n: string }>(`SELECT count() AS n FROM ${table} FINAL`);
      expect({ table, rows: Number(row!.n) }).toEqual({ table, rows: n });
    }
  });

  it('the embedder encodes every movie title into its vector, in ClickHouse and in Redis', async () => {
    const ch = suite.env.ch;
    const stored = async () =>
      ch.query<{ entity_key: string; v: number[] }>(
        `SELECT entity_key, argMax(vec, created_ms) AS v FROM entity_embeddings
         WHERE embedding = 'title' AND entity = 'movie' AND notEmpty(vec) GROUP BY entity_key`,
      );
    await waitFor(
      'every movie title embedded',
      async () => (await stored()).length === SIZE.movies,
      120_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; the embedder's last lines:\n${embedder?.logs.slice(-15).join('\n')}`);
    });
    const rows = await stored();
    for (const r of rows) {
      const norm = Math.sqrt(r.v.reduce((s, x) => s + x * x, 0));
      expect({ movie: r.entity_key, width: r.v.length, unit: Math.abs(norm - 1) < 1e-3 }).toEqual({
        movie: r.entity_key,
        width: TITLE_WIDTH,
        unit: true,
      });
    }
    // What the scorer reads on an item cache miss: the `emb:` hash of the same vector.
    const redis = new IORedis(process.env.REDIS_URL!);
    try {
      const raw = await redis.hgetBuffer(
        `${names.env.REDIS_KEY_PREFIX}emb:title:${rows[0]!.entity_key}`,
        'v',
      );
      const vec = Array.from({ length: raw!.length / 4 }, (_, i) => raw!.readFloatLE(4 * i));
      expect(vec).toHaveLength(TITLE_WIDTH);
      vec.forEach((x, i) => expect(x).toBeCloseTo(rows[0]!.v[i]!, 6));
    } finally {
      redis.disconnect();
    }
    await embedder?.stop();
  });

  it('mmctr-train builds the set with the import time split, trains, exports, registers and promotes a tiny model', async () => {
    const trained = await trainTinyAndPromote(suite.env.database, work.path(), {
      featureRepo: MOVIELENS,
      maxEpochs: 2,
      trainEndMs,
      valEndMs,
    });
    version = trained.version;
    // The split as the import made it and the ONNX graph the model; no AUC floor on 2,000 ratings.
    await expectTrainedMetrics(trained.registry, version, { impressionTs, trainEndMs, valEndMs });
    // Exact vocabularies: the graphs take rows; vocabulary.json holds each fitted feature's sorted value keys.
    const read = async <T>(file: string) =>
      JSON.parse(await readFile(join(trained.registry, version, file), 'utf8')) as T;
    const vocab = await read<{ features: Record<string, { keys: string[] }> }>('vocabulary.json');
    const card = await read<{ schema: { fitted: Record<string, { vocabulary_size: number }> } }>(
      'model.json',
    );
    expect(Object.keys(vocab.features).sort()).toEqual(['movie_id', 'user_id', 'zip_prefix']);
    for (const [feature, { keys }] of Object.entries(vocab.features)) {
      expect(keys).toHaveLength(card.schema.fitted[feature]!.vocabulary_size);
      expect(keys.map(BigInt)).toEqual(keys.map(BigInt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    await expectProductionVersion(suite.env.ch, version);
  });

  it('the scorer serves it to replayed test-period ratings and logs each request', async () => {
    const scorer = await startServing(suite, names, version, { LOG_LEVEL: 'info' });
    // Its item cache holds every movie's title vector (the candidate's title_vec input).
    const loaded = scorer.logged('item cache refreshed').reduce((n, l) => n + Number(l.vectors), 0);
    expect(loaded).toBe(SIZE.movies);
    await replayAndLog(scorer, suite.env.ch, version, requests);
  });

  it('mmctr-train parity recomputes every served CTR within 1e-4', async () => {
    const run = await expectParity(suite.env.database, version, requests);
    expect(run.result.item_refs.changed_after_request).toBe(0);
    // Every candidate and history movie read its title vector offline too (none fell back to zeros).
    expect(run.result.item_refs.without_vector).toBe(0);
  });
});
