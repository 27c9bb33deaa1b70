import type { AppConfig } from '@mmctr/config';
import {
  compileEntityContract,
  compileEventContract,
  entityTopic,
  findEntity,
  type ContractResult,
  type FeatureRepo,
} from '@mmctr/feature-repo';
import type { KeyedLine } from '../kafka.repository';
import { readMovielens } from './import-movielens-files';
import {
  describeBadLine,
  parseMovielens,
  type BadLine,
  type MovielensData,
  type MovielensRating,
} from './import-movielens-parse';
import { byTime, describePart, splitByTime, type SplitPart } from './import-movielens-split';

/**
 * The ratings date from 1997-98, before the platform's earliest event time (2000): every timestamp
 * moves forward by 10 227 days, 28 Gregorian years with their 7 leap days, so each rating keeps its
 * calendar date, weekday and time of day (1997-09-20 becomes 2025-09-20).
 */
export const TS_SHIFT_MS = 10_227 * 86_400_000;
export const eventMs = (tsS: number): number => tsS * 1000 + TS_SHIFT_MS;

/** The rating at which an impression is also a click. */
export const CLICK_RATING = 4;

export interface ImportOptions {
  dir: string;
  checksums: string;
  skipBadLines: boolean;
  /** Import only the first `limit` ratings in time order (every user and movie still goes). */
  limit?: number;
  batchSize: number;
}

/** Where the messages go: the CLI's producer repository (raw lines to a topic). */
export interface MessageSink {
  send(topic: string, lines: readonly KeyedLine[]): Promise<void>;
}

export interface TopicMessages {
  topic: string;
  /** What the messages are, for the summary: users, movies, events. */
  what: string;
  lines: KeyedLine[];
}

export interface ImportSummary {
  users: number;
  movies: number;
  impressions: number;
  clicks: number;
  skipped: BadLine[];
  topics: { topic: string; what: string; sent: number }[];
  split: { train: SplitPart; valid: SplitPart; test: SplitPart };
}

const line = (key: string, value: Record<string, unknown>): KeyedLine => ({
  key,
  value: Buffer.from(JSON.stringify(value)),
});

function ratingEvents(r: MovielensRating): Record<string, unknown>[] {
  const base = { schema_version: 1, ts_ms: eventMs(r.tsS), user_id: r.userId, movie_id: r.movieId };
  const id = `${r.userId}-${r.movieId}`;
  const impression = { ...base, event_id: `ml-imp-${id}`, type: 'impression', rating: r.rating };
  if (r.rating < CLICK_RATING) return [impression];
  return [impression, { ...base, event_id: `ml-clk-${id}`, type: 'click', rating: r.rating }];
}

/**
 * The messages of an import, per topic: user profiles and movies first, as of the first imported
 * rating (so a point-in-time read at any rating finds them), then the impressions and clicks in time
 * order. Each message is checked against the repository's contract first: a repository that does
 * not describe MovieLens (or a value outside its bounds) is refused before anything is sent.
 */
export function movielensMessages(
  data: MovielensData,
  ratings: readonly MovielensRating[],
  repo: FeatureRepo,
  config: Pick<AppConfig, 'KAFKA_TOPIC_EVENTS' | 'KAFKA_TOPIC_ITEMS' | 'KAFKA_TOPIC_ENTITY_PATTERN'>,
): TopicMessages[] {
  if (ratings.length === 0) throw new Error('u.data: no rating to import');
  const asOf = eventMs(ratings[0]!.tsS);
  const users = data.users.map((u) => ({
    schema_version: 1,
    user_id: u.userId,
    ts_ms: asOf,
    age: u.age,
    gender: u.gender,
    occupation: u.occupation,
    zip_prefix: u.zipPrefix,
  }));
  const movies = data.movies.map((m) => ({
    schema_version: 1,
    movie_id: m.movieId,
    ts_ms: asOf,
    title: m.title,
    year: m.year,
    genres: m.genres,
  }));
  const events = ratings.flatMap(ratingEvents);
  checkAll(users, compileEntityContract(repo, 'user').check, 'user', 'user_id');
  checkAll(movies, compileEntityContract(repo, 'movie').check, 'movie', 'movie_id');
  checkAll(events, compileEventContract(repo).check, 'event', 'event_id');
  return [
    { topic: entityTopic(findEntity(repo, 'user'), config), what: 'users', lines: keyed(users, 'user_id') },
    {
      topic: entityTopic(findEntity(repo, 'movie'), config),
      what: 'movies',
      lines: keyed(movies, 'movie_id'),
    },
    { topic: config.KAFKA_TOPIC_EVENTS, what: 'events', lines: keyed(events, 'user_id') },
  ];
}

const keyed = (records: Record<string, unknown>[], key: string): KeyedLine[] =>
  records.map((r) => line(r[key] as string, r));

function checkAll(
  records: readonly Record<string, unknown>[],
  check: (parsed: unknown) => ContractResult,
  what: string,
  id: string,
): void {
  for (const r of records) {
    const result = check(r);
    if (!result.ok) {
      throw new Error(`${what} ${String(r[id])} does not meet the feature repository: ${result.reason}`);
    }
  }
}

/** The ratings an import sends: all valid ones in time order, the first `limit` with a limit. */
export function importedRatings(data: MovielensData, limit?: number): MovielensRating[] {
  const ordered = byTime(data.ratings);
  return limit === undefined ? ordered : ordered.slice(0, limit);
}

export interface PreparedImport {
  messages: TopicMessages[];
  summary: ImportSummary;
}

/**
 * Reads and checks the dataset (checksums, then every line) and builds every message; nothing is
 * sent. A malformed line stops it unless `skipBadLines`.
 */
export function prepareImport(
  opts: Omit<ImportOptions, 'batchSize'>,
  repo: FeatureRepo,
  config: Pick<AppConfig, 'KAFKA_TOPIC_EVENTS' | 'KAFKA_TOPIC_ITEMS' | 'KAFKA_TOPIC_ENTITY_PATTERN'>,
): PreparedImport {
  const data = parseMovielens(readMovielens(opts.dir, opts.checksums));
  if (data.bad.length > 0 && !opts.skipBadLines) {
    throw new Error(
      `${describeBadLine(data.bad[0]!)} (${data.bad.length} malformed line(s); --skip-bad-lines skips them)`,
    );
  }
  const ratings = importedRatings(data, opts.limit);
  const messages = movielensMessages(data, ratings, repo, config);
  const split = splitByTime(ratings);
  const summary = {
    users: data.users.length,
    movies: data.movies.length,
    impressions: ratings.length,
    clicks: ratings.filter((r) => r.rating >= CLICK_RATING).length,
    skipped: data.bad,
    topics: messages.map((m) => ({ topic: m.topic, what: m.what, sent: m.lines.length })),
    split: {
      train: describePart(split.train),
      valid: describePart(split.valid),
      test: describePart(split.test),
    },
  };
  return { messages, summary };
}

/** Sends the messages topic by topic in batches of `batchSize`, reporting the count sent so far. */
export async function sendMessages(
  messages: readonly TopicMessages[],
  sink: MessageSink,
  batchSize: number,
  progress: (sent: number, total: number) => void = () => undefined,
): Promise<void> {
  const total = messages.reduce((n, m) => n + m.lines.length, 0);
  let sent = 0;
  progress(sent, total);
  for (const { topic, lines } of messages) {
    for (let i = 0; i < lines.length; i += batchSize) {
      const batch = lines.slice(i, i + batchSize);
      await sink.send(topic, batch);
      sent += batch.length;
      progress(sent, total);
    }
  }
}

/** `prepareImport`, then `sendMessages`: the whole import once the topics exist. */
export async function importMovielens(
  opts: ImportOptions,
  repo: FeatureRepo,
  config: Pick<AppConfig, 'KAFKA_TOPIC_EVENTS' | 'KAFKA_TOPIC_ITEMS' | 'KAFKA_TOPIC_ENTITY_PATTERN'>,
  sink: MessageSink,
  progress?: (sent: number, total: number) => void,
): Promise<ImportSummary> {
  const { messages, summary } = prepareImport(opts, repo, config);
  await sendMessages(messages, sink, opts.batchSize, progress);
  return summary;
}
