import escapeRegExp from 'escape-string-regexp';

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

/** The names of run `id` (`<namespace>-<run>`), unchecked. */
function runNames(id: string) {
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

/** The environment of run `run` in `namespace` (default `demo`). */
export function demoRunEnv(run: string, namespace = 'demo'): Record<string, string> {
  return runNames(`${checked('--namespace', namespace)}-${checked('--run', run)}`);
}

/** `export NAME='value'` lines for a shell to `eval`. */
export function shellExports(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'`)
    .join('\n');
}

// Stands for the run in the names of every run; a run id cannot contain it.
const ANY_RUN = '\u0000';
const escapeGlob = (v: string) => v.replace(/[*?[\]\\]/g, '\\$&');

/**
 * Recognises the names of any run of `namespace`, from the names `demoRunEnv` gives: which run a
 * topic, group or Redis key belongs to.
 */
export class DemoRunNames {
  private readonly topics: RegExp[];
  private readonly groups: RegExp[];
  private readonly keys: RegExp[];
  /** SCAN patterns that cover every run's Redis keys (the run is then read with `runOfKey`). */
  readonly keyPatterns: string[];

  constructor(namespace = 'demo') {
    const any = runNames(`${checked('--namespace', namespace)}-${ANY_RUN}`);
    const pattern = (name: string, end = '$') =>
      new RegExp(`^${escapeRegExp(name).replace(ANY_RUN, '([A-Za-z0-9_]+)')}${end}`);
    this.topics = [
      any.KAFKA_TOPIC_EVENTS,
      any.KAFKA_TOPIC_ITEMS,
      any.KAFKA_TOPIC_DLQ,
      any.KAFKA_TOPIC_SCORES,
    ].map((t) => pattern(t));
    this.groups = [any.INGEST_GROUP_ID, any.SCORE_LOG_SINK_GROUP_ID].map((g) => pattern(g));
    // BullMQ keys are `<prefix>:<queue>:…`.
    const prefixes = [any.REDIS_KEY_PREFIX, `${any.BULLMQ_PREFIX}:`];
    this.keys = prefixes.map((k) => pattern(k, ''));
    this.keyPatterns = prefixes.map((k) => `${escapeGlob(k).replace(ANY_RUN, '*')}*`);
  }

  runOfTopic(name: string): string | undefined {
    return matchRun(this.topics, name);
  }

  runOfGroup(name: string): string | undefined {
    return matchRun(this.groups, name);
  }

  runOfKey(key: string): string | undefined {
    return matchRun(this.keys, key);
  }
}

function matchRun(patterns: readonly RegExp[], name: string): string | undefined {
  for (const p of patterns) {
    const m = p.exec(name);
    if (m) return m[1];
  }
  return undefined;
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
