import { DemoRunNames, demoRunEnv, pruneDemoRuns, shellExports, type DemoRunStores } from './demo-runs';

/** Topics, groups and keys in memory; SCAN patterns are globs with `*` (what DemoRunNames gives). */
class FakeStores implements DemoRunStores {
  constructor(
    public topicNames: string[],
    public groupNames: string[],
    public keys: string[],
  ) {}
  async topics() {
    return this.topicNames;
  }
  async groups() {
    return this.groupNames;
  }
  async deleteTopics(topics: string[]) {
    this.topicNames = this.topicNames.filter((t) => !topics.includes(t));
  }
  async deleteGroups(groups: string[]) {
    this.groupNames = this.groupNames.filter((g) => !groups.includes(g));
  }
  async deleteKeys(pattern: string, doomed: (key: string) => boolean, progress?: (n: number) => void) {
    const glob = new RegExp(
      `^${pattern
        .split('*')
        .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    );
    const gone = this.keys.filter((k) => glob.test(k) && doomed(k));
    this.keys = this.keys.filter((k) => !gone.includes(k));
    progress?.(gone.length);
    return gone.length;
  }
}

const namesOf = (run: string, ns?: string) => Object.values(demoRunEnv(run, ns));

describe('demo run names', () => {
  it("names a run's topics, groups and Redis prefixes after its namespace and id", () => {
    expect(demoRunEnv('42')).toEqual({
      KAFKA_TOPIC_EVENTS: 'mmctr.demo-42.events.v1',
      KAFKA_TOPIC_ITEMS: 'mmctr.demo-42.items.v1',
      KAFKA_TOPIC_DLQ: 'mmctr.demo-42.dlq.v1',
      KAFKA_TOPIC_SCORES: 'mmctr.demo-42.scores.v1',
      INGEST_GROUP_ID: 'mmctr-demo-42-ingest',
      SCORE_LOG_SINK_GROUP_ID: 'mmctr-demo-42-score-log',
      REDIS_KEY_PREFIX: 'mmctr-demo-42:',
      BULLMQ_PREFIX: 'bull-demo-42',
    });
    expect(() => demoRunEnv('1-2')).toThrow(/--run must be letters, digits or _, got '1-2'/);
    expect(() => demoRunEnv('1', 'a.b')).toThrow(/--namespace must be/);
  });

  it('prints shell exports that survive quotes', () => {
    expect(shellExports({ A: "it's" })).toBe(`export A='it'\\''s'`);
  });

  it('tells which run a name belongs to, and nothing for names of other namespaces', () => {
    const names = new DemoRunNames();
    expect(names.keyPatterns).toEqual(['mmctr-demo-*:*', 'bull-demo-*:*']);
    const env = demoRunEnv('1796579640');
    expect(names.runOfTopic(env.KAFKA_TOPIC_SCORES!)).toBe('1796579640');
    expect(names.runOfGroup(env.SCORE_LOG_SINK_GROUP_ID!)).toBe('1796579640');
    expect(names.runOfKey(`${env.REDIS_KEY_PREFIX}hist:u1`)).toBe('1796579640');
    expect(names.runOfKey(`${env.BULLMQ_PREFIX}:item-embeddings:1`)).toBe('1796579640');
    for (const other of namesOf('7', 'demox')) {
      expect([names.runOfTopic(other), names.runOfGroup(other), names.runOfKey(`${other}:k`)]).toEqual([
        undefined,
        undefined,
        undefined,
      ]);
    }
    expect(names.runOfTopic('mmctr.events.v1')).toBeUndefined();
    expect(names.runOfKey('mmctr:hist:u1')).toBeUndefined();
  });
});

describe('pruning earlier demo runs', () => {
  const env = (run: string) => demoRunEnv(run);
  const topicsOf = (run: string) => [1, 2, 3, 4].map((i) => Object.values(env(run))[i - 1]!);
  const keysOf = (run: string) => [`${env(run).REDIS_KEY_PREFIX}hist:u1`, `${env(run).BULLMQ_PREFIX}:q:1`];

  it("deletes every other run's topics, groups and keys, and nothing else", async () => {
    const unrelated = { topics: ['mmctr.events.v1'], groups: ['mmctr-ingest'], keys: ['mmctr:hist:u1'] };
    const stores = new FakeStores(
      [...topicsOf('1'), ...topicsOf('2'), ...topicsOf('3'), ...unrelated.topics],
      [env('1').INGEST_GROUP_ID!, env('3').SCORE_LOG_SINK_GROUP_ID!, ...unrelated.groups],
      [...keysOf('1'), ...keysOf('3'), ...unrelated.keys],
    );
    const heard: number[] = [];
    const result = await pruneDemoRuns(stores, '3', 'demo', (n) => heard.push(n));
    expect(result).toEqual({ runs: ['1', '2'], topics: 8, groups: 1, redis_keys: 2 });
    expect(stores.topicNames).toEqual([...topicsOf('3'), ...unrelated.topics]);
    expect(stores.groupNames).toEqual([env('3').SCORE_LOG_SINK_GROUP_ID, ...unrelated.groups]);
    expect(stores.keys).toEqual([...keysOf('3'), ...unrelated.keys]);
    expect(heard).toEqual([1, 2]);
    // Nothing left to prune: a second run deletes nothing.
    expect(await pruneDemoRuns(stores, '3')).toEqual({ runs: [], topics: 0, groups: 0, redis_keys: 0 });
  });
});
