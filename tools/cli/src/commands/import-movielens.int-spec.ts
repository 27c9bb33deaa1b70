// `mmctr import movielens` end to end on the real stack: a 2,000-rating fixture in MovieLens-100k's
// formats, sent through the CLI's producer repository to Kafka, ingested by apps/ingest (a child
// process running feature-repos/movielens) into a fresh database with the repository applied.
// Own database, topics and key prefix.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppConfig } from '@mmctr/config';
import { FeatureStoreRepository, applyRepository, loadFeatureRepo } from '@mmctr/feature-repo';
import { ingestSuite } from '../../../../test/support/ingest/suite';
import { deleteTopics } from '../../../../test/support/kafka-group';
import { CliKafkaRepository } from '../kafka.repository';
import { eventMs, importMovielens } from './import-movielens';
import { fixtureRating, writeMovielensFixture } from './import-movielens.testing';

jest.setTimeout(600_000);

const MOVIELENS = join(__dirname, '..', '..', '..', '..', 'feature-repos', 'movielens');

describe('mmctr import movielens (Kafka -> ingest -> ClickHouse + Redis)', () => {
  const suite = ingestSuite();
  const repo = loadFeatureRepo(MOVIELENS);
  const dir = mkdtempSync(join(tmpdir(), 'ml-int-'));
  const entityTopics: string[] = [];

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await deleteTopics(suite.kafka(), entityTopics);
  });

  it('stores exactly one row per user, movie, impression and click', async () => {
    const names = await suite.names('ml-import');
    const pattern = `mmctr.test.${names.id}.{table}`;
    entityTopics.push(pattern.replace('{table}', 'ml_users'), pattern.replace('{table}', 'ml_movies'));
    const db = await suite.database();
    await db.migrate();
    const applied = await applyRepository(new FeatureStoreRepository(db.clickhouse, db.name), repo);
    expect(applied.status).toBe('applied');
    const env = {
      FEATURE_REPO: MOVIELENS,
      CLICKHOUSE_DATABASE: db.name,
      KAFKA_TOPIC_ENTITY_PATTERN: pattern,
    };
    await suite.startIngest(names, env);

    // One planted bad line (a user u.user does not have), skipped and counted.
    const fixture = writeMovielensFixture(dir, { ratings: 2000, leadingRatings: ['0\t1\t5\t881250949'] });
    const config = { ...suite.config, ...names.env, ...env } as AppConfig;
    const kafka = new CliKafkaRepository(config, { batchSize: 500 });
    const summary = await importMovielens(
      { dir, checksums: fixture.checksums, skipBadLines: true, batchSize: 500 },
      repo,
      config,
      kafka,
    ).finally(() => kafka.close());
    expect(summary.skipped).toEqual([{ file: 'u.data', line: 1, reason: "user '0' is not in u.user" }]);

    const ch = db.clickhouse;
    const count = async (sql: string) => Number((await ch.query<{ n: string }>(sql))[0]?.n);
    const events = fixture.ratings + fixture.clicks;
    await waitUntil(async () => (await count('SELECT count() AS n FROM ml_events')) >= events);
    await waitUntil(async () => (await count('SELECT count() AS n FROM ml_users')) >= fixture.users);
    await waitUntil(async () => (await count('SELECT count() AS n FROM ml_movies')) >= fixture.movies);

    const byType = await ch.query<{ type: string; n: string; ids: string }>(
      'SELECT type, count() AS n, uniqExact(event_id) AS ids FROM ml_events FINAL GROUP BY type ORDER BY type',
    );
    expect(byType.map((r) => [r.type, Number(r.n), Number(r.ids)])).toEqual([
      ['impression', 2000, 2000],
      ['click', fixture.clicks, fixture.clicks],
    ]);
    expect(await count("SELECT count() AS n FROM ml_events FINAL WHERE type = 'click' AND rating < 4")).toBe(
      0,
    );
    expect(
      await count("SELECT count() AS n FROM ml_events FINAL WHERE type = 'impression' AND rating >= 4"),
    ).toBe(fixture.clicks);
    const times = Array.from({ length: fixture.ratings }, (_, k) => fixtureRating(k, fixture.users).tsS);
    const [span] = await ch.query<{ lo: string; hi: string }>(
      'SELECT toString(min(ts_ms)) AS lo, toString(max(ts_ms)) AS hi FROM ml_events',
    );
    expect(span).toEqual({
      lo: String(eventMs(Math.min(...times))),
      hi: String(eventMs(Math.max(...times))),
    });
    expect(await count('SELECT count() AS n FROM ml_users FINAL')).toBe(fixture.users);
    expect(await count('SELECT count() AS n FROM ml_movies FINAL')).toBe(fixture.movies);
    const [movie] = await ch.query<Record<string, unknown>>(
      "SELECT title, year, genres FROM ml_movies WHERE movie_id = '1'",
    );
    expect(movie).toEqual({ title: 'Misérables, Les (1995)', year: '1951', genres: ['Action', 'Animation'] });

    // Redis: the movie's hash, and user 3's clicks (strictly the 4-5 star ratings) in its behaviour list.
    const redis = suite.redis();
    const prefix = names.env.REDIS_KEY_PREFIX;
    expect(await redis.hget(`${prefix}ent:movie:1`, 'title')).toBe('"Misérables, Les (1995)"');
    const clicksOf3 = Array.from({ length: fixture.ratings }, (_, k) =>
      fixtureRating(k, fixture.users),
    ).filter((r) => r.user === 3 && r.rating >= 4).length;
    await waitUntil(async () => (await redis.zcard(`${prefix}hist:3`)) >= clicksOf3);
    expect(await redis.zcard(`${prefix}hist:3`)).toBe(clicksOf3);
  });
});

async function waitUntil(cond: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 500));
  }
}
