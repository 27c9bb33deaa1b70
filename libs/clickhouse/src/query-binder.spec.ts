import { bindQuery, QueryBindError, quoteIdentifier, quoteString, limitLiteral } from './query-binder';

describe('bindQuery', () => {
  it('renders typed CAST literals', () => {
    expect(bindQuery('SELECT {a:UInt64}, {b:String}, {c:Float64}', { a: 42, b: "it's", c: 0.5 })).toBe(
      "SELECT CAST(42 AS UInt64), CAST('it\\'s' AS String), CAST(0.5 AS Float64)",
    );
  });

  it('escapes backslash, quote, NUL and control characters', () => {
    expect(quoteString("a\\b'c\0d\ne\rf\tg")).toBe("'a\\\\b\\'c\\0d\\ne\\rf\\tg'");
  });

  it('does not expand placeholders that appear inside bound values', () => {
    const sql = bindQuery('SELECT {a:String}, {b:String}', { a: '{b:String}', b: 'x' });
    expect(sql).toBe("SELECT CAST('{b:String}' AS String), CAST('x' AS String)");
  });

  it('rewrites IN over an array parameter into an arrayJoin subquery', () => {
    expect(bindQuery('WHERE id IN {ids:Array(String)}', { ids: ['a', 'b'] })).toBe(
      "WHERE id IN (SELECT arrayJoin(CAST(['a', 'b'] AS Array(String))))",
    );
  });

  it('quotes identifiers and escapes backticks', () => {
    expect(quoteIdentifier('we`ird\\name')).toBe('`we\\`ird\\\\name`');
    expect(bindQuery('SELECT 1 AS {c:Identifier}', { c: 'x' })).toBe('SELECT 1 AS `x`');
  });

  it('handles Nullable, Array and 64-bit integers', () => {
    expect(bindQuery('{a:Nullable(Int32)}', { a: null })).toBe('CAST(NULL AS Nullable(Int32))');
    expect(bindQuery('{a:Array(Int64)}', { a: [-9223372036854775808n, 1] })).toBe(
      'CAST([-9223372036854775808, 1] AS Array(Int64))',
    );
    expect(bindQuery('{a:UInt64}', { a: '18446744073709551615' })).toBe(
      'CAST(18446744073709551615 AS UInt64)',
    );
  });

  it.each([
    ['{a:UInt8}', { a: 256 }, /out of range for UInt8/],
    ['{a:UInt64}', { a: -1 }, /out of range/],
    ['{a:Int64}', { a: 1.5 }, /must be an integer/],
    ['{a:Int64}', { a: '1 OR 1=1' }, /must be an integer/],
    ['{a:String}', { a: 5 }, /must be a string/],
    ['{a:String}', {}, /missing query parameter 'a'/],
    ['{a:String}', { a: null }, /not Nullable/],
    ['{a:String}', { a: 'x\uD800y' }, /lone UTF-16 surrogate/],
    ['{a:Tuple(Int8)}', { a: [1] }, /unsupported type/],
    ['{a:UUID}', { a: "x' OR 1" }, /must be a UUID/],
    ['{a:DateTime}', { a: "2020-01-01'); DROP" }, /must be a Date/],
  ])('rejects %s with %o', (sql, params, message) => {
    expect(() => bindQuery(sql, params as never)).toThrow(QueryBindError);
    expect(() => bindQuery(sql, params as never)).toThrow(message);
  });
});

describe('limitLiteral', () => {
  it('passes a positive safe integer and refuses anything else, naming what it is', () => {
    expect(limitLiteral(20_000)).toBe(20_000);
    for (const bad of [0, -1, 1.5, NaN, 2 ** 53])
      expect(() => limitLiteral(bad, 'page size')).toThrow(
        new RangeError(`page size ${bad} is not a positive integer`),
      );
  });
});
