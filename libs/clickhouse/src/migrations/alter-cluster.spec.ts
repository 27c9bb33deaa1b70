import { alterClusterProblems, assertAlterCluster } from './alter-cluster';

const host = (cluster: string, shard: number, port: number) => ({
  cluster,
  shard_num: shard,
  host_address: '10.0.0.1',
  port,
});
// Two shards of two replicas, as system.clusters lists them.
const full = [host('c', 1, 9001), host('c', 1, 9002), host('c', 2, 9003), host('c', 2, 9004)];
const options = { name: 'c', alterCluster: 'c_first' };

describe('alterClusterProblems', () => {
  it('accepts one replica of each shard, whichever replica it is', () => {
    expect(
      alterClusterProblems(options, [...full, host('c_first', 1, 9001), host('c_first', 2, 9004)]),
    ).toEqual([]);
    expect(alterClusterProblems({ name: 'c' }, full)).toEqual([]);
  });

  it('names each shard listed twice, missed, foreign or with a replica of another shard', () => {
    const problems = alterClusterProblems(options, [
      ...full,
      host('c_first', 1, 9001),
      host('c_first', 1, 9002),
      host('c_first', 3, 9003),
    ]);
    expect(problems).toEqual([
      "shard 1: 'c_first' lists 2 replicas, not 1",
      "shard 2: 'c_first' lists 0 replicas, not 1",
      "shard 3: 'c_first' has it, 'c' does not",
    ]);
    expect(
      alterClusterProblems(options, [...full, host('c_first', 1, 9003), host('c_first', 2, 9004)]),
    ).toEqual(["shard 1: 'c_first' lists 10.0.0.1:9003, not a replica of that shard of 'c'"]);
  });

  it('says when either cluster is not defined', () => {
    expect(alterClusterProblems(options, full)).toEqual([
      "alter cluster 'c_first' is not defined on this server (system.clusters)",
    ]);
    expect(alterClusterProblems(options, [])).toEqual([
      "cluster 'c' is not defined on this server (system.clusters)",
    ]);
  });
});

describe('assertAlterCluster', () => {
  it('reads system.clusters only when an alter cluster is set, and throws naming the variable', async () => {
    const query = jest.fn(async () => [...full, host('c_first', 1, 9001)]);
    await assertAlterCluster({ query } as never, { name: 'c' });
    expect(query).not.toHaveBeenCalled();
    await expect(assertAlterCluster({ query } as never, options)).rejects.toThrow(
      /CLICKHOUSE_ALTER_CLUSTER 'c_first' must list one replica of each shard of 'c':\n {2}shard 2: 'c_first' lists 0 replicas/,
    );
  });
});
