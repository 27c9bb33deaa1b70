/**
 * Parsers of the MovieLens-100k files (GroupLens' `ml-100k` folder): `u.genre`, `u.occupation`,
 * `u.user`, `u.item` and `u.data`, given as text. Nothing here reads files or throws on bad input:
 * every line that cannot be imported becomes a `BadLine` naming its file, line number and reason.
 */

export interface BadLine {
  file: string;
  /** 1-based. */
  line: number;
  reason: string;
}

export const describeBadLine = (b: BadLine): string => `${b.file} line ${b.line}: ${b.reason}`;

export interface MovielensUser {
  userId: string;
  age: number;
  gender: string;
  occupation: string;
  /** The first three characters of the zip code (a few are Canadian postal codes). */
  zipPrefix: string;
}

export interface MovielensMovie {
  movieId: string;
  title: string;
  /** From the release date; 0 when the file gives none. */
  year: number;
  genres: string[];
}

export interface MovielensRating {
  userId: string;
  movieId: string;
  rating: number;
  /** Unix seconds, as in u.data. */
  tsS: number;
  /** u.data line number: the tie-breaker of equal timestamps. */
  line: number;
}

export interface MovielensData {
  genres: string[];
  occupations: string[];
  users: MovielensUser[];
  movies: MovielensMovie[];
  ratings: MovielensRating[];
  bad: BadLine[];
}

/** The five files' text, by name. */
export type MovielensTexts = Record<'u.data' | 'u.user' | 'u.item' | 'u.genre' | 'u.occupation', string>;

/** A line's record, or why it cannot be imported. */
class Refused {
  constructor(readonly reason: string) {}
}
type Parsed<T> = T | Refused;
const fail = (reason: string) => new Refused(reason);
const failed = <T>(p: Parsed<T>): p is Refused => p instanceof Refused;

const POSITIVE_INT = /^[1-9][0-9]*$/;
const RELEASE_DATE = /^[0-9]{1,2}-[A-Z][a-z]{2}-([0-9]{4})$/;

/**
 * The records of `text`'s lines, in order. Blank lines (the files end with one) carry no record and
 * are passed over; every other line that `parse` refuses is added to `bad`.
 */
function parseLines<T>(
  file: string,
  text: string,
  bad: BadLine[],
  parse: (line: string, lineNo: number) => Parsed<T>,
): T[] {
  const out: T[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const r = parse(line, i + 1);
    if (failed(r)) bad.push({ file, line: i + 1, reason: r.reason });
    else out.push(r);
  });
  return out;
}

/** `text` split on `sep` into exactly `n` fields, or the reason it is not. */
function fields(text: string, sep: string, n: number, what: string): Parsed<string[]> {
  const f = text.split(sep);
  return f.length === n ? f : fail(`expected ${n} ${what}-separated fields, got ${f.length}`);
}

function parseGenre(line: string, index: number): Parsed<string> {
  const f = fields(line, '|', 2, "'|'");
  if (failed(f)) return f;
  const [name, id] = f as [string, string];
  if (name === '') return fail('empty genre name');
  if (id !== String(index)) return fail(`genre '${name}' has index '${id}', expected ${index}`);
  return name;
}

function parseUser(line: string, occupations: ReadonlySet<string>): Parsed<MovielensUser> {
  const f = fields(line, '|', 5, "'|'");
  if (failed(f)) return f;
  const [userId, age, gender, occupation, zip] = f as [string, string, string, string, string];
  if (!POSITIVE_INT.test(userId)) return fail(`user id '${userId}' is not a positive integer`);
  if (!/^[0-9]{1,3}$/.test(age)) return fail(`age '${age}' is not an integer between 0 and 999`);
  if (gender !== 'M' && gender !== 'F') return fail(`gender '${gender}' is neither M nor F`);
  if (!occupations.has(occupation)) return fail(`occupation '${occupation}' is not in u.occupation`);
  if (zip === '') return fail('empty zip code');
  return { userId, age: Number(age), gender, occupation, zipPrefix: zip.slice(0, 3) };
}

function parseMovie(line: string, genres: readonly string[]): Parsed<MovielensMovie> {
  const f = fields(line, '|', 5 + genres.length, "'|'");
  if (failed(f)) return f;
  const [movieId, title, released] = f as [string, string, string];
  if (!POSITIVE_INT.test(movieId)) return fail(`movie id '${movieId}' is not a positive integer`);
  if (title === '') return fail('empty title');
  const date = RELEASE_DATE.exec(released);
  if (released !== '' && !date) return fail(`release date '${released}' is not d-Mon-yyyy`);
  const flags = f.slice(5);
  const odd = flags.findIndex((x) => x !== '0' && x !== '1');
  if (odd !== -1) return fail(`genre flag ${odd} ('${genres[odd]}') is '${flags[odd]}', not 0 or 1`);
  return {
    movieId,
    title,
    year: date ? Number(date[1]) : 0,
    genres: genres.filter((_, i) => flags[i] === '1'),
  };
}

function parseRating(
  line: string,
  lineNo: number,
  users: ReadonlySet<string>,
  movies: ReadonlySet<string>,
  seen: Map<string, number>,
): Parsed<MovielensRating> {
  const f = fields(line, '\t', 4, 'tab');
  if (failed(f)) return f;
  const [userId, movieId, rating, ts] = f as [string, string, string, string];
  if (!users.has(userId)) return fail(`user '${userId}' is not in u.user`);
  if (!movies.has(movieId)) return fail(`movie '${movieId}' is not in u.item`);
  if (!/^[1-5]$/.test(rating)) return fail(`rating '${rating}' is not an integer from 1 to 5`);
  if (!POSITIVE_INT.test(ts)) return fail(`timestamp '${ts}' is not a positive integer`);
  const pair = `${userId}\t${movieId}`;
  const first = seen.get(pair);
  if (first !== undefined) return fail(`user ${userId} already rated movie ${movieId} on line ${first}`);
  seen.set(pair, lineNo);
  return { userId, movieId, rating: Number(rating), tsS: Number(ts), line: lineNo };
}

/** Keeps the first record of each key; a later one is a bad line naming the first's line. */
function uniqueBy<T>(file: string, records: T[], key: (r: T) => string, bad: BadLine[], lines: number[]) {
  const first = new Map<string, number>();
  return records.filter((r, i) => {
    const k = key(r);
    const at = first.get(k);
    if (at === undefined) {
      first.set(k, lines[i]!);
      return true;
    }
    bad.push({ file, line: lines[i]!, reason: `id ${k} already defined on line ${at}` });
    return false;
  });
}

/** The records of `file` with their line numbers (for the duplicate check). */
function numbered<T>(file: string, text: string, bad: BadLine[], parse: (line: string) => Parsed<T>) {
  const lines: number[] = [];
  const records = parseLines(file, text, bad, (line, n) => {
    const r = parse(line);
    if (!failed(r)) lines.push(n);
    return r;
  });
  return { records, lines };
}

/**
 * Parses the dataset. Ratings must name a user of u.user and a movie of u.item, each (user, movie)
 * pair at most once; users an occupation of u.occupation; movies one flag per u.genre genre.
 */
export function parseMovielens(texts: MovielensTexts): MovielensData {
  const bad: BadLine[] = [];
  const genres = parseLines('u.genre', texts['u.genre'], bad, (line, n) => parseGenre(line, n - 1));
  const occupations = parseLines('u.occupation', texts['u.occupation'], bad, (line) =>
    line.includes('|') ? fail("an occupation has no '|'") : line,
  );
  const occupationSet = new Set(occupations);
  const u = numbered('u.user', texts['u.user'], bad, (line) => parseUser(line, occupationSet));
  const users = uniqueBy('u.user', u.records, (r) => r.userId, bad, u.lines);
  const m = numbered('u.item', texts['u.item'], bad, (line) => parseMovie(line, genres));
  const movies = uniqueBy('u.item', m.records, (r) => r.movieId, bad, m.lines);
  const userSet = new Set(users.map((x) => x.userId));
  const movieSet = new Set(movies.map((x) => x.movieId));
  const seen = new Map<string, number>();
  const ratings = parseLines('u.data', texts['u.data'], bad, (line, n) =>
    parseRating(line, n, userSet, movieSet, seen),
  );
  return { genres, occupations, users, movies, ratings, bad };
}
