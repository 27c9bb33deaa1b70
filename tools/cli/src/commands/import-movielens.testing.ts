import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MOVIELENS_FILES } from './import-movielens-files';

export const FIXTURE_GENRES = [
  'unknown',
  'Action',
  'Adventure',
  'Animation',
  "Children's",
  'Comedy',
  'Crime',
  'Documentary',
  'Drama',
  'Fantasy',
  'Film-Noir',
  'Horror',
  'Musical',
  'Mystery',
  'Romance',
  'Sci-Fi',
  'Thriller',
  'War',
  'Western',
];
export const FIXTURE_OCCUPATIONS = ['artist', 'engineer', 'other', 'student'];

export interface FixtureOptions {
  users?: number;
  movies?: number;
  ratings?: number;
  /** Lines put before the generated ratings in u.data (to plant bad ones). */
  leadingRatings?: string[];
}

export interface Fixture {
  dir: string;
  checksums: string;
  users: number;
  movies: number;
  ratings: number;
  clicks: number;
}

/** The generated rating `k`: distinct (user, movie) pairs, timestamps with ties, 1 to 5 stars. */
export function fixtureRating(k: number, users: number) {
  return {
    user: (k % users) + 1,
    movie: Math.floor(k / users) + 1,
    rating: ((k * 7) % 5) + 1,
    // Three ratings per minute, written out of time order as in u.data.
    tsS: 880_000_000 + Math.floor(((k * 7919) % 3001) / 3) * 60,
  };
}

const userLine = (i: number) =>
  `${i}|${18 + (i % 50)}|${i % 2 === 0 ? 'F' : 'M'}|${FIXTURE_OCCUPATIONS[i % 4]}|${i % 5 === 0 ? 'T8H1N' : String(10_000 + i * 7)}`;

function movieLine(j: number): string {
  const flags = FIXTURE_GENRES.map((_, g) => (g === j % 19 || g === (j * 3) % 19 ? '1' : '0'));
  const title = j === 1 ? 'Misérables, Les (1995)' : `Movie ${j} (${1950 + (j % 48)})`;
  const released = j === 2 ? '' : `${j % 2 === 0 ? '01' : '4'}-Feb-${1950 + (j % 48)}`;
  return [j, title, released, '', `http://example.org/m${j}`, ...flags].join('|');
}

/**
 * Writes a small dataset in MovieLens-100k's formats (ISO-8859-1, like u.item's accented titles)
 * and its SHA-256 listing to `dir`.
 */
export function writeMovielensFixture(dir: string, opts: FixtureOptions = {}): Fixture {
  const users = opts.users ?? 40;
  const movies = opts.movies ?? 60;
  const ratings = opts.ratings ?? 200;
  if (ratings > users * movies) throw new Error('fixture: more ratings than (user, movie) pairs');
  const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
  const generated = Array.from({ length: ratings }, (_, k) => fixtureRating(k, users));
  const texts: Record<string, string> = {
    'u.genre': FIXTURE_GENRES.map((g, i) => `${g}|${i}\n`).join('') + '\n',
    'u.occupation': FIXTURE_OCCUPATIONS.map((o) => `${o}\n`).join(''),
    'u.user': range(users)
      .map((i) => `${userLine(i)}\n`)
      .join(''),
    'u.item': range(movies)
      .map((j) => `${movieLine(j)}\n`)
      .join(''),
    'u.data': [
      ...(opts.leadingRatings ?? []),
      ...generated.map((r) => `${r.user}\t${r.movie}\t${r.rating}\t${r.tsS}`),
    ]
      .map((l) => `${l}\n`)
      .join(''),
  };
  mkdirSync(dir, { recursive: true });
  const sums = MOVIELENS_FILES.map((name) => {
    const bytes = Buffer.from(texts[name]!, 'latin1');
    writeFileSync(join(dir, name), bytes);
    return `${createHash('sha256').update(bytes).digest('hex')}  ${name}\n`;
  });
  const checksums = join(dir, 'checksums.sha256');
  writeFileSync(checksums, sums.join(''));
  return { dir, checksums, users, movies, ratings, clicks: generated.filter((r) => r.rating >= 4).length };
}
