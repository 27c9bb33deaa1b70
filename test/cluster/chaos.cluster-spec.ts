import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster } from 'ioredis';
import { logLevel } from 'kafkajs';
import { loadConfig } from '@mmctr/config';
import { DLQ_HEADERS, type CatalogueItem } from '@mmctr/contracts';
import { createKafka, platformTopics } from '@mmctr/kafka';
import { createRedis, keySlot } from '@mmctr/online-store';
import { waitFor } from '../../apps/scorer/test/support/scorer-harness';
import { sleep } from '../support/ingest/ingest-process';
import { readTopic } from '../support/ingest/read-topic';
import { ChaosApps } from './chaos/chaos-apps';
import {
  fullyInSync,
  kafkaLeader,
  killNode,
  redisPrimaryOf,
  redisRedundant,
  redisRole,
  startNode,
} from './chaos/cluster-nodes';
import {
  committedOffsets,
  ingestLogSummary,
  ingestWarnings,
  locateInTopic,
  replicaCounts,
  serverEvents,
  serverLogFindings,
} from './chaos/lost-events';
import { formatFigures, type FaultFigure, type RunFigures } from './chaos/report';
import { EventStream, ScoringLoad, type ScoringCounts } from './chaos/traffic';
import { connectNode, nodeUrls } from './clickhouse-nodes';
import { replicated } from './replication';

/**
 * The platform under faults on the loopback cluster: two ingest replicas, two scorer replicas and an
 * embedder run as real processes while events (a few malformed) and scoring requests flow. One at a
 * time: a Kafka broker, a ClickHouse replica and a Redis primary are SIGKILLed and restarted, then an
 * ingest replica is SIGKILLed. Every acknowledged valid event must end up exactly once in the analyst
 * view, every malformed one in the DLQ, and no scoring request may fail; the figures are printed.
 */
jest.setTimeout(900_000);

// How long a killed node stays down at least: longer than Redis' failover (cluster-node-timeout 3 s)
// and than KRaft's fencing of a broker that stopped heartbeating (broker.session.timeout.ms, 9 s).
const DOWN_MS = 15_000;
const ITEMS = 200;
// The second replica of shard 2: the apps reach ClickHouse through the first server (CLICKHOUSE_URL),
// so this one is only ever reached through the Distributed tables, which must fail over.
const CLICKHOUSE_VICTIM = 'ch-3';

describe('the platform on the loopback cluster under node failures', () => {
  const config = loadConfig();
  // The test's own clients stay quiet: it counts and reports its retried sends itself.
  const kafka = createKafka(config, { logLevel: logLevel.NOTHING });
  const apps = new ChaosApps(config, kafka);
  const topics = platformTopics({ ...config, ...apps.env }).map((t) => t.topic);
  const nodes = nodeUrls.map((url) => connectNode(url));
  const faults: FaultFigure[] = [];
  /** Cluster nodes killed and not yet restarted (restarted after a failed run too). */
  const down = new Set<() => Promise<void>>();
  let redis: Cluster | undefined;
  let stream: EventStream;
  let load: ScoringLoad;
  let figures: Partial<RunFigures> = {};
  let runStartedAt = Date.now();

  const items: CatalogueItem[] = Array.from({ length: ITEMS }, (_, i) => ({
    schema_version: 1,
    item_id: `${apps.names.prefix}i${i}`,
    ts_ms: Date.UTC(2026, 0, 1) + i,
    title: `chaos item ${i}`,
    description: `a catalogue entry of category ${i % 7}`,
    category: `c${i % 7}`,
    tags: [`t${i % 5}`],
  }));

  /**
   * Seconds from `since` until the first probe sent after it was acknowledged by Kafka (`ackS`) and
   * until a probe is stored on every partition (`recoveryS`).
   */
  async function recovery(tag: string, since: number): Promise<{ ackS: number; recoveryS: number }> {
    const like = `${stream.probePrefix(tag)}%`;
    let ackS = 0;
    for (let round = 0; ; round++) {
      await stream.probe(tag, round);
      ackS ||= (Date.now() - since) / 1000;
      const [row] = await apps.ch
        .query<{ n: string }>(
          'SELECT uniqExact(user_id) AS n FROM events WHERE event_id LIKE {like:String}',
          { like },
        )
        .catch(() => [{ n: '0' }]);
      if (Number(row!.n) === stream.probeUsers.length)
        return { ackS, recoveryS: (Date.now() - since) / 1000 };
      if (Date.now() - since > 300_000) throw new Error(`no end-to-end event within 300 s after ${tag}`);
      await sleep(250);
    }
  }

  /**
   * Where the first lost events are: when each was acknowledged relative to the last kill before it,
   * where it sits in the events topic and whether the ingest group committed past it, which ingest
   * batch logged that offset as stored, its shard and how many copies each server's events_local holds
   * (to tell a lost part from a lost write or a replica behind), and whether it was dead-lettered.
   * The whole evidence (per partition, per server, the servers' and ingest's logs) is printed; with
   * nothing lost, that of two stored events, so that every run shows what a stored event looks like.
   */
  async function describeLost(lost: string[], stored: string[]): Promise<string[]> {
    const sample = lost.length > 0 ? lost.slice(0, 10) : stored.slice(0, 2);
    if (sample.length === 0) return [];
    const list = sample.map((id) => `'${id}'`).join(',');
    const copies = await Promise.all(
      nodes.map((n) =>
        n.query<{ event_id: string }>(
          `SELECT event_id FROM \`${apps.database}\`.events_local WHERE event_id IN (${list})`,
        ),
      ),
    );
    const topic = apps.env.KAFKA_TOPIC_EVENTS!;
    const [places, letters, committed] = await Promise.all([
      locateInTopic(kafka, topic, new Set(stream.sent.keys())),
      locateInTopic(kafka, apps.env.KAFKA_TOPIC_DLQ!, new Set(lost)),
      committedOffsets(kafka, apps.env.INGEST_GROUP_ID!, topic),
    ]);
    const lines = await Promise.all(
      sample.map(async (id) => {
        const acked = stream.sent.get(id)!;
        const fault = faults.filter((f) => f.killedAt <= acked).at(-1);
        const after = fault
          ? `${((acked - fault.killedAt) / 1000).toFixed(1)} s after ${fault.node}`
          : 'before any fault';
        const onNodes = copies.map((rows) => rows.filter((r) => r.event_id === id).length).join('/');
        const at = places.get(id) ?? [];
        const where =
          at.map((p) => `${p.partition}@${p.offset} (committed ${committed.get(p.partition)})`).join(', ') ||
          'not in the topic';
        const batches = await Promise.all(
          at.map((p) =>
            apps.ch.query<{
              consumer: string;
              first_offset: string;
              last_offset: string;
              rows: string;
              ts_ms: string;
            }>(
              `SELECT consumer, first_offset, last_offset, rows, ts_ms FROM ingest_batches
                WHERE topic = {t:String} AND partition = {p:UInt16} AND first_offset <= {o:UInt64} AND last_offset >= {o:UInt64}`,
              { t: topic, p: p.partition, o: p.offset },
            ),
          ),
        );
        const logged =
          batches
            .flat()
            .map((b) => `${b.first_offset}-${b.last_offset} (${b.rows} rows) by ${b.consumer} at ${b.ts_ms}`)
            .join(', ') || 'none';
        const [shard] = await apps.ch.query<{ s: string }>(
          'SELECT cityHash64(user_id) % 2 + 1 AS s FROM (SELECT {u:String} AS user_id)',
          { u: stream.userOf.get(id) ?? '' },
        );
        const dead = letters
          .get(id)
          ?.map((l) => l.headers[DLQ_HEADERS.reason] ?? JSON.stringify(l.headers))
          .join('; ');
        return (
          `${id}: acknowledged ${after} (at ${acked}); Kafka ${where}; ingest_batches ${logged}; ` +
          `shard ${shard?.s}; copies on ch-1..4 ${onNodes}${dead ? `; dead-lettered: ${dead}` : ''}`
        );
      }),
    );
    // Lost ids per partition: a run of neighbouring offsets all lost is one batch, not scattered rows.
    const lostSet = new Set(lost);
    const byPartition = new Map<number, bigint[]>();
    for (const id of lost)
      for (const p of places.get(id) ?? [])
        byPartition.set(p.partition, [...(byPartition.get(p.partition) ?? []), BigInt(p.offset)]);
    const runs = [...byPartition].map(([partition, offsets]) => {
      offsets.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const lo = offsets[0]!;
      const hi = offsets.at(-1)!;
      let storedBetween = 0;
      for (const [id, at] of places)
        if (
          !lostSet.has(id) &&
          at.some((p) => p.partition === partition && BigInt(p.offset) > lo && BigInt(p.offset) < hi)
        )
          storedBetween++;
      return `partition ${partition}: ${offsets.length} lost at offsets ${lo}..${hi}, ${storedBetween} stored in between`;
    });
    const firstAck = Math.min(...sample.map((id) => stream.sent.get(id)!));
    const report = [
      lost.length > 0 ? `lost events: ${lost.length}` : 'no event lost; two stored events for reference:',
      `acknowledged events found in ${topic}: ${places.size} of ${stream.sent.size}`,
      ...runs,
      ...lines,
      'events_local per server (run users):',
      ...(await replicaCounts(nodes, apps.database, apps.names.prefix)),
      'server counters since each start:',
      ...(await serverEvents(nodes)),
      'server log lines during the run:',
      ...serverLogFindings(runStartedAt, Date.now()),
      `ingest logs: ${ingestLogSummary(apps.ingest.map((p) => p.logs))}`,
      'ingest warnings from 5 s before the first lost event was acknowledged:',
      ...ingestWarnings(
        apps.ingest.map((p) => p.logs),
        firstAck - 5_000,
        firstAck + 120_000,
      ),
    ];
    process.stdout.write(`\n${report.join('\n')}\n\n`);
    return lost.length > 0 ? lines : [];
  }

  const delta = (from: ScoringCounts) => ({
    requests: load.counts.requests - from.requests,
    degraded: load.counts.degraded - from.degraded,
    server5xx: load.counts.server5xx - from.server5xx,
  });

  /**
   * Kills `node`, measures the recovery with probes tagged `tag`, then restarts the node (if given)
   * and waits until the store is redundant again.
   */
  async function inject(
    fault: string,
    tag: string,
    node: string,
    kill: () => Promise<unknown>,
    restart?: { start: () => Promise<void>; redundant: () => Promise<boolean> },
  ): Promise<void> {
    const before = { ...load.counts };
    const t0 = Date.now();
    await kill();
    if (restart) down.add(restart.start);
    const { ackS, recoveryS } = await recovery(tag, t0);
    let restoredS: number | null = null;
    if (restart) {
      await sleep(DOWN_MS - (Date.now() - t0));
      await restart.start();
      down.delete(restart.start);
      await waitFor(`${node} restored`, restart.redundant, 180_000);
      restoredS = (Date.now() - t0) / 1000;
    }
    faults.push({ fault, node, killedAt: t0, ackS, recoveryS, restoredS, scoring: delta(before) });
  }

  beforeAll(async () => {
    if (!config.REDIS_CLUSTER_NODES || nodes.length < 4)
      throw new Error(
        'the cluster environment is not set (deploy/local/cluster.env); run deploy/local/up --cluster',
      );
    const client = createRedis(config);
    if (!client.isCluster) throw new Error('REDIS_CLUSTER_NODES did not give a cluster client');
    redis = client as unknown as Cluster;
    runStartedAt = Date.now();
    await apps.setUp();
    await apps.startApps();
    stream = new EventStream(kafka, apps.names);
    await stream.sendItems(items);
    stream.start();
    load = new ScoringLoad(apps.scorers, apps.names.prefix);
    load.start();
  });

  afterAll(async () => {
    await load?.stop();
    await stream?.stop();
    const logs = join(tmpdir(), `mmctr-chaos-${apps.names.id}`);
    apps.writeLogs(logs);
    process.stdout.write(`the apps' output: ${logs}\n`);
    for (const start of down)
      await start().catch((err: Error) => process.stdout.write(`could not restart a node: ${err.message}\n`));
    await apps.tearDown(redis);
    redis?.disconnect();
    await Promise.all(nodes.map((n) => n.close()));
    if (figures.faults) process.stdout.write(`\n${formatFigures(figures as RunFigures)}\n\n`);
  });

  it('recovers from each fault in turn', async () => {
    await inject('none (baseline)', 'baseline', '-', async () => undefined);

    const broker = await kafkaLeader(kafka, apps.env.KAFKA_TOPIC_EVENTS!);
    await inject('Kafka broker (events/0 leader)', 'kafka', broker, () => killNode(broker), {
      start: () => startNode(broker),
      redundant: async () => (await Promise.all(topics.map((t) => fullyInSync(kafka, t)))).every(Boolean),
    });

    await inject(
      'ClickHouse replica (shard 2)',
      'clickhouse',
      CLICKHOUSE_VICTIM,
      () => killNode(CLICKHOUSE_VICTIM),
      {
        start: () => startNode(CLICKHOUSE_VICTIM),
        redundant: () => replicated(nodes, apps.database, 120_000).then(() => true),
      },
    );

    // The primary of BullMQ's hash tag: the embeddings queue fails over too.
    const primary = await redisPrimaryOf(redis!, keySlot(`{${config.BULLMQ_PREFIX}}`));
    await inject('Redis primary (failover)', 'redis', primary, () => killNode(primary), {
      start: () => startNode(primary),
      redundant: async () => (await redisRole(primary)) === 'slave' && (await redisRedundant(redis!)),
    });

    const victim = apps.ingest[0]!;
    await inject('ingest replica', 'ingest', 'ingest-1', () => victim.kill('SIGKILL'));
  });

  it('stores every acknowledged event exactly once and dead-letters every malformed one', async () => {
    await load.stop();
    await stream.stop();
    const sent = stream.sent;
    // Until every acknowledged event is stored, or the count stood still for 30 s (the counts below
    // then name what is missing).
    let last = { n: -1, at: Date.now() };
    await waitFor(
      'every acknowledged event in the analyst view',
      async () => {
        const [r] = await apps.ch.query<{ n: string }>(
          'SELECT uniqExact(event_id) AS n FROM events WHERE user_id LIKE {p:String}',
          { p: `${apps.names.prefix}%` },
        );
        if (Number(r!.n) !== last.n) last = { n: Number(r!.n), at: Date.now() };
        return last.n >= sent.size || Date.now() - last.at > 30_000;
      },
      300_000,
    );
    await replicated(nodes, apps.database, 120_000);
    const rows = await apps.ch.query<{ event_id: string; n: string }>(
      'SELECT event_id, count() AS n FROM events_dedup WHERE user_id LIKE {p:String} GROUP BY event_id',
      { p: `${apps.names.prefix}%` },
    );
    const stored = rows.filter((r) => sent.has(r.event_id));
    const letters = await readTopic(kafka, apps.env.KAFKA_TOPIC_DLQ!, stream.malformed.length, 120_000);
    const lettered = new Set(letters.map((l) => /"event_id":"([^"]+)"/.exec(l.raw.toString())?.[1]));
    figures = {
      ...figures,
      eventsSent: sent.size,
      stored: stored.length,
      lost: sent.size - stored.length,
      duplicated: rows.reduce((n, r) => n + Number(r.n) - 1, 0),
      unexpected: rows.length - stored.length,
      malformedSent: stream.malformed.length,
      deadLettered: stream.malformed.filter((id) => lettered.has(id)).length,
      dlqMessages: letters.length,
      producerRetries: stream.sendFailures,
      producerResent: stream.resentMessages,
      streamS: stream.elapsedS,
    };
    const storedIds = new Set(stored.map((r) => r.event_id));
    const lost = [...sent.keys()].filter((id) => !storedIds.has(id));
    expect({ ...figures, lostSample: await describeLost(lost, [...storedIds]) }).toMatchObject({
      lost: 0,
      lostSample: [],
      duplicated: 0,
      unexpected: 0,
      deadLettered: stream.malformed.length,
    });
  });

  it('answers every scoring request without a 5xx and logs each answer once', async () => {
    const answered = load.counts.ok + load.counts.degraded;
    const logged = async () => {
      const [r] = await apps.ch.query<{ n: string; u: string }>(
        'SELECT count() AS n, uniqExact(request_id) AS u FROM score_log FINAL WHERE user_id LIKE {p:String}',
        { p: `${apps.names.prefix}%` },
      );
      return { rows: Number(r!.n), requests: Number(r!.u) };
    };
    await waitFor(
      'every answer in score_log',
      async () => (await logged()).requests >= answered,
      120_000,
    ).catch(() => undefined);
    const log = await logged();
    figures = { ...figures, scoring: { ...load.counts }, scoreLogged: log.requests, faults };
    expect({ ...load.counts, problems: load.problems }).toMatchObject({
      server5xx: 0,
      failed: 0,
      problems: [],
    });
    expect(log).toEqual({ rows: answered, requests: answered });
  });

  it('embeds every catalogue item', async () => {
    const embedded = async () => {
      const [r] = await apps.ch.query<{ n: string }>(
        'SELECT uniqExact(item_id) AS n FROM item_embeddings_latest WHERE item_id LIKE {p:String}',
        { p: `${apps.names.prefix}%` },
      );
      return Number(r!.n);
    };
    await waitFor('every item embedded', async () => (await embedded()) >= ITEMS, 180_000).catch(
      () => undefined,
    );
    figures = { ...figures, itemsSent: ITEMS, itemsEmbedded: await embedded() };
    expect(figures.itemsEmbedded).toBe(ITEMS);
  });
});
