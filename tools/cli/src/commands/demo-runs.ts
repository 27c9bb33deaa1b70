/**
 * The names one demo run (`scripts/demo.sh`) gives its Kafka topics, consumer groups and Redis key
 * prefixes, all carrying `<namespace>-<run>`: runs never share state, and an earlier run's names can be
 * told apart and removed.
 */
const RUN_ID = /^[A-Za-z0-9_]+$/;

function checked(label: string, v: string): string {
  if (!RUN_ID.test(v)) throw new Error(`${label} must be letters, digits or _, got '${v}'`);
  return v;
}

/** The environment of run `run` in `namespace` (default `demo`). */
export function demoRunEnv(run: string, namespace = 'demo'): Record<string, string> {
  const id = `${checked('--namespace', namespace)}-${checked('--run', run)}`;
  return {
    KAFKA_TOPIC_EVENTS: `mmctr.${id}.events.v1`,
    KAFKA_TOPIC_ITEMS: `mmctr.${id}.items.v1`,
    KAFKA_TOPIC_DLQ: `mmctr.${id}.dlq.v1`,
    KAFKA_TOPIC_SCORES: `mmctr.${id}.scores.v1`,
    INGEST_GROUP_ID: `mmctr-${id}-ingest`,
    SCORE_LOG_SINK_GROUP_ID: `mmctr-${id}-score-log`,
    REDIS_KEY_PREFIX: `mmctr-${id}:`,
    BULLMQ_PREFIX: `bull-${id}`,
  };
}

/** `export NAME='value'` lines for a shell to `eval`. */
export function shellExports(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'`)
    .join('\n');
}

/** Recognises the names of any run of `namespace`: which run a topic, group or Redis key belongs to. */
export class DemoRunNames {
  private readonly topic: RegExp;
  private readonly group: RegExp;
  private readonly key: RegExp;
  /** SCAN patterns that cover every run's Redis keys (the run is then read with `runOfKey`). */
  readonly keyPatterns: string[];

  constructor(namespace = 'demo') {
    const ns = checked('--namespace', namespace);
    this.topic = new RegExp(`^mmctr\\.${ns}-([A-Za-z0-9_]+)\\.(?:events|items|dlq|scores)\\.v1$`);
    this.group = new RegExp(`^mmctr-${ns}-([A-Za-z0-9_]+)-(?:ingest|score-log)$`);
    this.key = new RegExp(`^(?:mmctr|bull)-${ns}-([A-Za-z0-9_]+):`);
    this.keyPatterns = [`mmctr-${ns}-*`, `bull-${ns}-*`];
  }

  runOfTopic(name: string): string | undefined {
    return this.topic.exec(name)?.[1];
  }

  runOfGroup(name: string): string | undefined {
    return this.group.exec(name)?.[1];
  }

  runOfKey(key: string): string | undefined {
    return this.key.exec(key)?.[1];
  }
}

/** What pruning needs of Kafka and Redis (DemoRunsRepository). */
export interface DemoRunStores {
  topics(): Promise<string[]>;
  groups(): Promise<string[]>;
  deleteTopics(topics: string[]): Promise<void>;
  deleteGroups(groups: string[]): Promise<void>;
  deleteKeys(
    pattern: string,
    doomed: (key: string) => boolean,
    progress?: (deleted: number) => void,
  ): Promise<number>;
}

export interface PruneResult {
  /** The earlier runs found, whose names are now deleted. */
  runs: string[];
  topics: number;
  groups: number;
  redis_keys: number;
}

/**
 * Deletes the topics, consumer groups and Redis keys of every run of `namespace` but `keep` (groups before
 * their topics; a run's processes must have stopped). `progress` hears the Redis keys deleted so far.
 */
export async function pruneDemoRuns(
  stores: DemoRunStores,
  keep: string,
  namespace = 'demo',
  progress?: (keysDeleted: number) => void,
): Promise<PruneResult> {
  checked('--keep', keep);
  const names = new DemoRunNames(namespace);
  const runs = new Set<string>();
  const earlier = (run: string | undefined): boolean => {
    if (run === undefined || run === keep) return false;
    runs.add(run);
    return true;
  };
  const topics = (await stores.topics()).filter((t) => earlier(names.runOfTopic(t)));
  const groups = (await stores.groups()).filter((g) => earlier(names.runOfGroup(g)));
  await stores.deleteGroups(groups);
  await stores.deleteTopics(topics);
  let keys = 0;
  for (const pattern of names.keyPatterns) {
    const before = keys;
    keys += await stores.deleteKeys(
      pattern,
      (k) => earlier(names.runOfKey(k)),
      (n) => progress?.(before + n),
    );
  }
  return { runs: [...runs].sort(), topics: topics.length, groups: groups.length, redis_keys: keys };
}
