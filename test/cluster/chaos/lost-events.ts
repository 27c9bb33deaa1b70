import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IHeaders, Kafka } from 'kafkajs';
import type { ClickHouseService } from '@mmctr/clickhouse';
import { consumeFromStart } from '../../support/kafka-group';
import { withKafkaAdmin } from '@mmctr/kafka';

/**
 * Evidence about acknowledged events missing from the analyst view, gathered before the test's
 * database and topics are dropped: where each one sits in Kafka, whether ingest logged a stored batch
 * covering it and committed past it, which shard it belongs to and how many copies each server's
 * events_local holds, whether it was dead-lettered, and what the ClickHouse servers counted and logged.
 */

const ROOT = join(__dirname, '..', '..', '..');

export interface TopicPlace {
  partition: number;
  offset: string;
  /** The message's headers, as text (a dead letter's reason is one). */
  headers: Record<string, string>;
}

const eventIdOf = (value: Buffer | null): string | undefined =>
  /"event_id":"([^"]+)"/.exec(value?.toString() ?? '')?.[1];

const headerText = (headers: IHeaders | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k, String(v)]));

/**
 * Every copy of the events in `ids` in `topic`, read from the start up to the high watermarks of the
 * moment of the call, with a throw-away consumer group.
 */
export async function locateInTopic(
  kafka: Kafka,
  topic: string,
  ids: ReadonlySet<string>,
  timeoutMs = 120_000,
): Promise<Map<string, TopicPlace[]>> {
  const ends = await withKafkaAdmin(kafka, (admin) => admin.fetchTopicOffsets(topic));
  const lastOffset = new Map(
    ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high) - 1n]),
  );
  const found = new Map<string, TopicPlace[]>();
  if (lastOffset.size === 0) return found;
  await consumeFromStart(
    kafka,
    topic,
    'locate',
    { timeoutMs, timeoutMessage: () => `${topic} not read to its end within ${timeoutMs / 1000} s` },
    (done) => ({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const id = eventIdOf(m.value);
          if (id === undefined || !ids.has(id)) continue;
          const place = { partition: batch.partition, offset: m.offset, headers: headerText(m.headers) };
          found.set(id, [...(found.get(id) ?? []), place]);
        }
        const last = batch.messages.at(-1)?.offset;
        const end = lastOffset.get(batch.partition);
        if (last !== undefined && end !== undefined && BigInt(last) >= end)
          lastOffset.delete(batch.partition);
        if (lastOffset.size === 0) done();
      },
    }),
  );
  return found;
}

/** The group's committed offset per partition of `topic` ('-1': none). */
export async function committedOffsets(
  kafka: Kafka,
  groupId: string,
  topic: string,
): Promise<Map<number, string>> {
  return withKafkaAdmin(kafka, async (admin) => {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((t?.partitions ?? []).map((p) => [p.partition, p.offset]));
  });
}

/** ClickHouse's own counters that tell a deduplicated insert, a failed fetch or a part no replica has. */
const SERVER_EVENTS = [
  'InsertedRows',
  'DuplicatedInsertedBlocks',
  'ReplicatedPartFetches',
  'ReplicatedPartFailedFetches',
  'ReplicatedDataLoss',
  'ReplicatedPartChecksFailed',
  'ObsoleteReplicatedParts',
  'DistributedConnectionFailTry',
  'DistributedConnectionFailAtAll',
] as const;

/** Per server: the counters above (since that server's last start) as `name=value`, non-zero ones only. */
export async function serverEvents(nodes: readonly ClickHouseService[]): Promise<string[]> {
  const list = SERVER_EVENTS.map((e) => `'${e}'`).join(',');
  return Promise.all(
    nodes.map(async (n, i) => {
      const rows = await n
        .query<{ event: string; value: string }>(
          `SELECT event, value FROM system.events WHERE event IN (${list})`,
        )
        .catch((err: Error) => [{ event: 'error', value: err.message }]);
      return `ch-${i + 1}: ${rows.map((r) => `${r.event}=${r.value}`).join(' ') || '-'}`;
    }),
  );
}

/** Per server: rows and distinct events of the run's users in its events_local. */
export async function replicaCounts(
  nodes: readonly ClickHouseService[],
  database: string,
  userPrefix: string,
): Promise<string[]> {
  return Promise.all(
    nodes.map(async (n, i) => {
      const [r] = await n
        .query<{ n: string; u: string }>(
          `SELECT count() AS n, uniqExact(event_id) AS u FROM \`${database}\`.events_local WHERE user_id LIKE {p:String}`,
          { p: `${userPrefix}%` },
        )
        .catch(() => [{ n: '?', u: '?' }]);
      return `ch-${i + 1}: ${r!.n} rows, ${r!.u} events`;
    }),
  );
}

/**
 * Lines of each ClickHouse server's log (the loopback cluster's, under .local/cluster/logs) written
 * between `from` and `to` (epoch ms) that tell of deduplicated blocks, read-only replicas, broken or
 * lost parts or failed connections: per server and kind, the count and the first line.
 */
export function serverLogFindings(
  from: number,
  to: number,
  servers = ['ch-1', 'ch-2', 'ch-3', 'ch-4'],
): string[] {
  const kinds: [string, RegExp][] = [
    ['deduplicated block', /already exists; ignoring it|Block with ID .* already exists/],
    ['read-only', /readonly|read-only|appears to be already active/i],
    [
      'part lost or broken',
      /lost forever|No active replica has part|broken|unexpected part|detached|DataLoss/i,
    ],
    ['connection', /Code: (32|33|209|210|279),/],
    ['insert error', /executeQuery: .*INSERT INTO/],
  ];
  const stamp = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/-/g, '.').slice(0, 19);
  const lo = stamp(from);
  const hi = stamp(to);
  const out: string[] = [];
  for (const server of servers) {
    const file = join(ROOT, '.local', 'cluster', 'logs', server, 'clickhouse-server.log');
    if (!existsSync(file)) continue;
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.slice(0, 19) >= lo && l.slice(0, 19) <= hi);
    for (const [kind, re] of kinds) {
      const hits = lines.filter((l) => re.test(l));
      if (hits.length > 0) out.push(`${server} ${kind}: ${hits.length}, first: ${hits[0]!.slice(0, 300)}`);
    }
  }
  return out;
}

/** Counts of what the ingest replicas logged that bears on lost data. */
export function ingestLogSummary(logs: readonly (readonly string[])[]): string {
  const kinds: [string, RegExp][] = [
    ['store retries', /store failed; consumption paused/],
    ['rows refused', /ClickHouse refused rows/],
    ['commit failures', /offset commit failed/],
    ['stale ranges not committed', /not committing ranges/],
    ['rebalances', /consumer group rebalancing/],
    ['crashes', /consumer crashed/],
  ];
  return logs
    .map((lines, i) => {
      const counts = kinds.map(([k, re]) => `${k} ${lines.filter((l) => re.test(l)).length}`);
      return `ingest-${i + 1}: ${counts.join(', ')}`;
    })
    .join('; ');
}

/** Warnings and errors (pino level >= 40) of each ingest replica logged between `from` and `to`. */
export function ingestWarnings(
  logs: readonly (readonly string[])[],
  from: number,
  to: number,
  max = 8,
): string[] {
  return logs.flatMap((lines, i) =>
    lines
      .filter((l) => {
        const m = /"level":(\d+),"time":(\d+)/.exec(l);
        return m !== null && Number(m[1]) >= 40 && Number(m[2]) >= from && Number(m[2]) <= to;
      })
      .slice(0, max)
      .map((l) => `ingest-${i + 1}: ${l.slice(0, 400)}`),
  );
}
