import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFeatureRepo, modelLayout, parseFeatureRepo } from '@mmctr/feature-repo';
import type { KeyedLine } from '../kafka.repository';
import { buildProgram } from '../main';
import { parseChecksums } from './import-movielens-files';
import { eventMs, importMovielens, type ImportOptions } from './import-movielens';
import { fixtureRating, writeMovielensFixture, type FixtureOptions } from './import-movielens.testing';

const ROOT = join(__dirname, '..', '..', '..', '..');
const repo = loadFeatureRepo(join(ROOT, 'feature-repos', 'movielens'));
const config = {
  KAFKA_TOPIC_EVENTS: 'ev',
  KAFKA_TOPIC_ITEMS: 'items',
  KAFKA_TOPIC_ENTITY_PATTERN: 't.{table}',
};

/** A sink that keeps what it is sent, decoded. */
function recordingSink() {
  const sent: { topic: string; key: string | null; value: Record<string, unknown> }[] = [];
  return {
    sent,
    send: (topic: string, lines: readonly KeyedLine[]) => {
      for (const l of lines)
        sent.push({ topic, key: l.key, value: JSON.parse(l.value.toString()) as Record<string, unknown> });
      return Promise.resolve();
    },
  };
}

describe('feature-repos/movielens', () => {
  it('lays out a user request, movie candidates and the history of clicked movies', () => {
    const layout = modelLayout(repo);
    expect([layout.request_entity, layout.candidate_entity]).toEqual(['user', 'movie']);
    expect(layout.user.categorical.map((s) => s.feature)).toEqual([
      'user_id',
      'age_band',
      'gender',
      'occupation',
      'zip_prefix',
    ]);
    expect(layout.candidate.categorical.map((s) => s.feature)).toEqual(['movie_id']);
    expect(layout.sequences.map((q) => [q.name, q.target, q.length, q.event_types])).toEqual([
      ['hist', 'movie', 50, ['click']],
    ]);
  });
});

describe('importMovielens', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'ml-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const fixture = (opts?: FixtureOptions) => writeMovielensFixture(dir, opts);
  const run = (f: { dir: string; checksums: string }, over: Partial<ImportOptions> = {}) => {
    const sink = recordingSink();
    const opts = { dir: f.dir, checksums: f.checksums, skipBadLines: false, batchSize: 7, ...over };
    return { sink, done: importMovielens(opts, repo, config, sink) };
  };

  it('sends profiles and movies as of the first rating, then an impression per rating and a click per 4-5 stars, in time order', async () => {
    const f = fixture();
    const { sink, done } = run(f);
    const summary = await done;
    const on = (topic: string) => sink.sent.filter((m) => m.topic === topic);
    expect([on('t.ml_users').length, on('t.ml_movies').length]).toEqual([f.users, f.movies]);
    const events = on('ev');
    expect(events.filter((e) => e.value.type === 'impression')).toHaveLength(f.ratings);
    expect(events.filter((e) => e.value.type === 'click')).toHaveLength(f.clicks);
    expect(summary).toMatchObject({
      users: f.users,
      movies: f.movies,
      impressions: f.ratings,
      clicks: f.clicks,
    });

    const times = events.map((e) => e.value.ts_ms as number);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const first = times[0]!;
    expect(on('t.ml_users').every((m) => m.value.ts_ms === first)).toBe(true);
    expect(on('t.ml_users')[4]).toEqual({
      topic: 't.ml_users',
      key: '5',
      value: {
        schema_version: 1,
        user_id: '5',
        ts_ms: first,
        age: 23,
        gender: 'M',
        occupation: 'engineer',
        zip_prefix: 'T8H',
      },
    });
    expect(on('t.ml_movies')[0]!.value).toEqual({
      schema_version: 1,
      movie_id: '1',
      ts_ms: first,
      title: 'Misérables, Les (1995)',
      year: 1951,
      genres: ['Action', 'Animation'],
    });
    // Rating k = 3: user 4 gave movie 1 two stars (no click); k = 2: user 3, movie 1, five stars.
    const r3 = fixtureRating(3, f.users);
    expect(
      events.filter((e) => e.value.event_id === 'ml-imp-4-1' || e.value.event_id === 'ml-clk-4-1'),
    ).toEqual([
      {
        topic: 'ev',
        key: '4',
        value: {
          schema_version: 1,
          event_id: 'ml-imp-4-1',
          type: 'impression',
          ts_ms: eventMs(r3.tsS),
          user_id: '4',
          movie_id: '1',
          rating: 2,
        },
      },
    ]);
    expect(
      events.filter((e) => (e.value.event_id as string).endsWith('-3-1')).map((e) => e.value.type),
    ).toEqual(['impression', 'click']);
  });

  it('moves rating times by 28 years: same calendar date, weekday and time of day', () => {
    const t = 874724710; // 1997-09-20T03:05:10Z, a Saturday
    expect(new Date(eventMs(t)).toISOString()).toBe('2025-09-20T03:05:10.000Z');
    expect(new Date(eventMs(t)).getUTCDay()).toBe(new Date(t * 1000).getUTCDay());
    expect(new Date(eventMs(893286638)).toISOString()).toBe('2026-04-22T23:10:38.000Z');
  });

  it('stops at a malformed line, naming file and line, before sending anything', async () => {
    const f = fixture({ leadingRatings: ['1\t1\t5\t881250949', '0\t50\t0\t881250949', 'garbage'] });
    const { sink, done } = run(f);
    await expect(done).rejects.toThrow(
      "u.data line 2: user '0' is not in u.user (3 malformed line(s); --skip-bad-lines skips them)",
    );
    expect(sink.sent).toEqual([]);
  });

  it('with --skip-bad-lines counts the malformed lines and imports the rest', async () => {
    const f = fixture({ leadingRatings: ['0\t50\t0\t881250949', 'garbage'] });
    const { sink, done } = run(f, { skipBadLines: true });
    const summary = await done;
    expect(summary.skipped.map((b) => `${b.file}:${b.line}`)).toEqual(['u.data:1', 'u.data:2']);
    expect(summary.impressions).toBe(f.ratings);
    expect(sink.sent.filter((m) => m.value.type === 'impression')).toHaveLength(f.ratings);
  });

  it('--limit sends the first n ratings in time order and splits them 80 / 10 / 10', async () => {
    const f = fixture();
    const { sink, done } = run(f, { limit: 50 });
    const summary = await done;
    const all = Array.from({ length: f.ratings }, (_, k) => fixtureRating(k, f.users).tsS).sort(
      (a, b) => a - b,
    );
    const imps = sink.sent.filter((m) => m.value.type === 'impression');
    expect(imps.map((m) => m.value.ts_ms)).toEqual(all.slice(0, 50).map(eventMs));
    expect(summary.split.train).toEqual({ count: 40, fromS: all[0], toS: all[39] });
    expect(summary.split.valid.count).toBe(5);
    expect(summary.split.test).toEqual({ count: 5, fromS: all[45], toS: all[49] });
  });

  it('refuses a missing file, a changed file and a file the listing does not name', async () => {
    const f = fixture();
    writeFileSync(join(dir, 'u.genre'), 'unknown|0\n');
    await expect(run(f).done).rejects.toThrow(
      /^u\.genre: SHA-256 [0-9a-f]{64} does not match .*checksums\.sha256 \(expected [0-9a-f]{64}\)$/,
    );
    unlinkSync(join(dir, 'u.item'));
    await expect(run(f).done).rejects.toThrow(`u.item: no such file (${join(dir, 'u.item')})`);
    const listing = readFileSync(f.checksums, 'utf8').split('\n');
    writeFileSync(f.checksums, listing.filter((l) => !l.endsWith('u.user')).join('\n'));
    await expect(run(f).done).rejects.toThrow(`u.user: no checksum in ${f.checksums}`);
  });

  it('refuses a malformed checksum listing by line', () => {
    expect(() => parseChecksums(`${'a'.repeat(64)}  u.data\nnot a sum\n`, 'sums')).toThrow(
      "sums line 2: expected '<sha256 hex>  <file name>'",
    );
  });

  it('refuses a repository that does not describe MovieLens before sending', async () => {
    const f = fixture();
    const doc = JSON.parse(JSON.stringify(repo)) as {
      entities: { attributes: { name: string }[] }[];
      features: { name: string }[];
    };
    doc.features = doc.features.filter((x) => x.name !== 'zip_prefix');
    doc.entities[0]!.attributes = doc.entities[0]!.attributes.filter((a) => a.name !== 'zip_prefix');
    const other = parseFeatureRepo(doc);
    const sink = recordingSink();
    const opts = { dir: f.dir, checksums: f.checksums, skipBadLines: false, batchSize: 10 };
    await expect(importMovielens(opts, other, config, sink)).rejects.toThrow(
      "user 1 does not meet the feature repository: schema: unknown attribute 'zip_prefix' (unknown_attributes: reject)",
    );
    expect(sink.sent).toEqual([]);
  });

  it('the command refuses a --limit that is not a positive integer', async () => {
    const program = buildProgram().exitOverride();
    await expect(
      program.parseAsync(['node', 'mmctr', 'import', 'movielens', dir, '--limit', '0']),
    ).rejects.toThrow("--limit must be a positive integer, got '0'");
  });
});
