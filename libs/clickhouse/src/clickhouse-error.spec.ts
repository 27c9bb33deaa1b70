import { parseClickHouseError } from './clickhouse-error';

describe('parseClickHouseError', () => {
  it('reads the code from an 18.16 message', () => {
    const e = parseClickHouseError(
      new Error(
        "Code: 60, e.displayText() = DB::Exception: Table mmctr.nope doesn't exist., e.what() = DB::Exception",
      ),
    );
    expect(e.code).toBe(60);
    expect(e.transient).toBe(false);
  });

  it('uses the code a modern server reported through the client', () => {
    const err = Object.assign(
      new Error('Table mmctr.nope does not exist. (UNKNOWN_TABLE) (version 24.3.1.1)'),
      { code: '60' },
    );
    const e = parseClickHouseError(err);
    expect(e.code).toBe(60);
    expect(e.message).toBe('Table mmctr.nope does not exist. (UNKNOWN_TABLE)');
  });

  it('treats connection errors (no code) as transient', () => {
    const e = parseClickHouseError(
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:18123'), { code: 'ECONNREFUSED' }),
    );
    expect(e.code).toBeUndefined();
    expect(e.transient).toBe(true);
  });
});
