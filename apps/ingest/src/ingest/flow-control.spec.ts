import { FlowControl } from './flow-control';

describe('FlowControl', () => {
  it('pauses while any target fails, resumes when all recover', () => {
    const f = new FlowControl();
    const changes: boolean[] = [];
    f.onChange((paused) => changes.push(paused));
    f.fail('clickhouse:events');
    f.fail('redis:events');
    f.ok('clickhouse:events');
    expect(f.paused).toBe(true);
    f.ok('redis:events');
    expect(changes).toEqual([true, false]);
  });

  it('reports targets failing past a deadline, timed from their first failure', () => {
    const f = new FlowControl();
    f.fail('clickhouse:events', 1_000);
    f.fail('clickhouse:events', 5_000); // a later failure of the same run does not reset the clock
    f.fail('kafka-dlq:items', 4_000);
    expect(f.failingLongerThan(2_000, 6_000)).toEqual([{ target: 'clickhouse:events', failingMs: 5_000 }]);
    f.ok('clickhouse:events');
    f.fail('clickhouse:events', 7_000);
    expect(f.failingLongerThan(2_000, 7_500)).toEqual([{ target: 'kafka-dlq:items', failingMs: 3_500 }]);
  });
});
