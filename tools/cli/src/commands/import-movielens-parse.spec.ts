import { describeBadLine, parseMovielens, type MovielensTexts } from './import-movielens-parse';

const GENRES = 'unknown|0\nAction|1\nDrama|2\n\n';
const texts = (over: Partial<MovielensTexts> = {}): MovielensTexts => ({
  'u.genre': GENRES,
  'u.occupation': 'artist\nother\n',
  'u.user': '1|24|M|artist|85711\n2|53|F|other|T8H1N\n',
  'u.item':
    '1|Misérables, Les (1995)|01-Jan-1995||http://x|0|1|1\n' +
    '2|unknown|||http://x|1|0|0\n' +
    '3|Old (1971)|4-Feb-1971||http://x|0|0|1\n',
  'u.data': '1\t1\t5\t881250949\n2\t3\t2\t881250950\n',
  ...over,
});
const reasons = (over: Partial<MovielensTexts>) => parseMovielens(texts(over)).bad.map(describeBadLine);

describe('parseMovielens', () => {
  it('reads users, movies and ratings, passing over blank lines', () => {
    const d = parseMovielens(texts());
    expect(d.bad).toEqual([]);
    expect(d.genres).toEqual(['unknown', 'Action', 'Drama']);
    expect(d.occupations).toEqual(['artist', 'other']);
    expect(d.users).toEqual([
      { userId: '1', age: 24, gender: 'M', occupation: 'artist', zipPrefix: '857' },
      { userId: '2', age: 53, gender: 'F', occupation: 'other', zipPrefix: 'T8H' },
    ]);
    expect(d.movies).toEqual([
      { movieId: '1', title: 'Misérables, Les (1995)', year: 1995, genres: ['Action', 'Drama'] },
      { movieId: '2', title: 'unknown', year: 0, genres: ['unknown'] },
      { movieId: '3', title: 'Old (1971)', year: 1971, genres: ['Drama'] },
    ]);
    expect(d.ratings).toEqual([
      { userId: '1', movieId: '1', rating: 5, tsS: 881250949, line: 1 },
      { userId: '2', movieId: '3', rating: 2, tsS: 881250950, line: 2 },
    ]);
  });

  it('accepts CRLF line ends', () => {
    const d = parseMovielens(texts({ 'u.data': '1\t1\t5\t881250949\r\n' }));
    expect(d.bad).toEqual([]);
    expect(d.ratings).toHaveLength(1);
  });

  it.each([
    ['1\t1\t5\n', 'u.data line 1: expected 4 tab-separated fields, got 3'],
    ['0\t1\t5\t881250949\n', "u.data line 1: user '0' is not in u.user"],
    ['1\t9\t5\t881250949\n', "u.data line 1: movie '9' is not in u.item"],
    ['1\t1\t0\t881250949\n', "u.data line 1: rating '0' is not an integer from 1 to 5"],
    ['1\t1\t4.5\t881250949\n', "u.data line 1: rating '4.5' is not an integer from 1 to 5"],
    ['1\t1\t4\t-5\n', "u.data line 1: timestamp '-5' is not a positive integer"],
    ['1\t1\t4\t1\n\n1\t1\t3\t2\n', 'u.data line 3: user 1 already rated movie 1 on line 1'],
  ])('refuses the rating line %j', (data, reason) => {
    expect(reasons({ 'u.data': data })).toEqual([reason]);
  });

  it.each<[keyof MovielensTexts, string, string]>([
    ['u.user', '1|24|M|artist\n', "u.user line 1: expected 5 '|'-separated fields, got 4"],
    ['u.user', 'x|24|M|artist|1\n', "u.user line 1: user id 'x' is not a positive integer"],
    ['u.user', '1|old|M|artist|1\n', "u.user line 1: age 'old' is not an integer between 0 and 999"],
    ['u.user', '1|24|X|artist|1\n', "u.user line 1: gender 'X' is neither M nor F"],
    ['u.user', '1|24|M|pilot|1\n', "u.user line 1: occupation 'pilot' is not in u.occupation"],
    ['u.user', '1|24|M|artist|\n', 'u.user line 1: empty zip code'],
    ['u.user', '1|24|M|artist|1\n1|25|F|other|2\n', 'u.user line 2: id 1 already defined on line 1'],
    ['u.item', '1|T|01-Jan-1995||u|0|1\n', "u.item line 1: expected 8 '|'-separated fields, got 7"],
    ['u.item', '1||01-Jan-1995||u|0|1|0\n', 'u.item line 1: empty title'],
    ['u.item', '1|T|1995||u|0|1|0\n', "u.item line 1: release date '1995' is not d-Mon-yyyy"],
    ['u.item', '1|T|||u|0|2|0\n', "u.item line 1: genre flag 1 ('Action') is '2', not 0 or 1"],
  ])('refuses the %s line %j', (file, text, reason) => {
    // no ratings: they would also be refused for the refused user or movie
    expect(reasons({ [file]: text, 'u.data': '' })).toEqual([reason]);
  });

  it('refuses genres out of order and ratings of a refused user, each by line', () => {
    expect(reasons({ 'u.genre': 'unknown|0\nDrama|2\n', 'u.item': '', 'u.data': '' })).toEqual([
      "u.genre line 2: genre 'Drama' has index '2', expected 1",
    ]);
    expect(reasons({ 'u.user': '1|24|M|artist|85711\n2|53|F|pilot|1\n', 'u.data': '2\t1\t4\t7\n' })).toEqual([
      "u.user line 2: occupation 'pilot' is not in u.occupation",
      "u.data line 1: user '2' is not in u.user",
    ]);
  });
});
