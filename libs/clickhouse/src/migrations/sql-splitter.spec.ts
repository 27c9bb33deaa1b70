import { splitSqlStatements } from './sql-splitter';

describe('splitSqlStatements', () => {
  it('splits on semicolons outside quotes and comments', () => {
    const sql =
      "-- a; comment\nCREATE TABLE t (s String DEFAULT ';');\n/* x; y */ SELECT 'a\\';b', `c;d`;\n\n";
    expect(splitSqlStatements(sql)).toEqual([
      "CREATE TABLE t (s String DEFAULT ';')",
      "SELECT 'a\\';b', `c;d`",
    ]);
  });
});
