// CPU per score log record in isolation (no scorer, no model): realistic records (500 candidates, 64
// history items, float32 CTRs widened to float64, as score.service.ts builds them).
//
// Baseline, measured in the same run: encoding alone, JSON.stringify of the record on the request
// loop. Every score log must turn the record into its JSON bytes once, so this is the least a record
// can cost; each figure is printed beside it as a ratio (how many plain encodings the path costs). It
// is taken at the start and again at the end (the box is shared); ratios use the first.
//
// 1. Steps, one at a time (CPU time, median over repeats): pack on the request loop, the
//    hand-off through a MessageChannel (postMessage on the request loop; delivery, i.e. deserialising,
//    on the thread), JSON of the CTRs, and kafkajs (with @mmctr/kafka's patches) sending 8-record
//    requests to a scratch topic.
// 2. End to end: a record published every 1/--rate s through the real ScoreLogProducer and thread,
//    and through nothing (the posting loop's own cost: building the records, timers; subtracted), each
//    run in a fresh process, in alternating order; CPU per record of the posting thread (the request
//    loop's part), the score log thread, the rest of the process (V8's helper threads) from
//    /proc/<tid>/schedstat (ns), and of the Kafka broker (10 ms ticks); medians over runs. Plus CPU
//    per second while connected and idle.
// CPU time, not wall time: the box is shared. Needs the local stack (deploy/local/up) for Kafka; the
// scratch topic is deleted at the end. ~1 minute.
//
// Usage: node -r ./scripts/register.js bench/score/score-log-cpu.ts [--candidates 500] [--repeats 7]
//        [--rate 75] [--seconds 4] [--runs 3] [--pooled] [--steps-only | --end-to-end-only]
import '../../test/setup/load-stack-env.js';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual, promisify } from 'node:util';
import { MessageChannel } from 'node:worker_threads';
import { loadConfig } from '@mmctr/config';
import type { ScoreLogRecord } from '@mmctr/contracts';
import { createKafka, patchKafkajs } from '@mmctr/kafka';
import {
  checkScoreLogValue,
  packScoreLog,
  ScoreLogProducer,
  type ScoreLogThreadInit,
  scoreLogValue,
} from '@mmctr/scorer';
import { arg, numberArg } from '../support/cli-args';

const CANDIDATES = numberArg('candidates', 500);
const REPEATS = numberArg('repeats', 7);
const RATE = numberArg('rate', 75);
const SECONDS = numberArg('seconds', 4);
const RUNS = numberArg('runs', 3);
// Each published record built just before (as the scorer does), not one of the pool: a pooled record
// is cold in the caches by its turn, which inflates the request loop's share.
const FRESH = !process.argv.includes('--pooled');
// The scorer's SCORER_SCORE_LOG_BATCH_RECORDS when docs/scorer.md's figures were taken (now 32), kept
// so that reruns compare with them.
const CHUNK = 8;
const POOL = 64; // distinct records, reused round robin
const CLIENT_ID = 'mmctr-bench-score-log';

/** The real producer and thread, or the posting loop alone. */
type E2eVariant = 'producer' | 'base';
type Message = { key: string; value: string };
type KafkaInit = ScoreLogThreadInit['kafka'];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const cpuUs = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since);
  return d.user + d.system;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function makeRecord(k: number): ScoreLogRecord {
  const ctrs = new Float32Array(CANDIDATES); // the model's output
  for (let i = 0; i < CANDIDATES; i++) ctrs[i] = 1 / (1 + Math.exp(-(Math.random() * 4 - 6)));
  return {
    schema_version: 1,
    request_id: randomUUID(),
    ts_ms: Date.now(),
    user_id: `user-${k % 1000}`,
    model_version: '20261126-0930-qin-e64',
    feature_spec_version: 'fs-3',
    context: { device: 'android', placement: 'feed', country: 'DE' },
    history_item_ids: Array.from({ length: 64 }, (_, i) => `item-${(k * 7919 + i * 104_729) % 200_000}`),
    item_ids: Array.from({ length: CANDIDATES }, (_, i) => `item-${(k * 31 + i * 7) % 200_000}`),
    positions: Array.from({ length: CANDIDATES }, (_, i) => i % 32),
    ctrs: Array.from(ctrs),
    degraded: false,
  };
}

/** Median CPU µs per item of `fn` over `items`, after a warm-up. */
function perItem<T>(items: T[], fn: (x: T) => unknown, iterations = 8): number {
  for (let i = 0; i < 3; i++) items.forEach(fn);
  const runs: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const t = process.cpuUsage();
    for (let i = 0; i < iterations; i++) items.forEach(fn);
    runs.push(cpuUs(t) / (iterations * items.length));
  }
  return median(runs);
}

/** The baseline: CPU µs to JSON-encode one record, nothing else. */
const encodingAlone = (records: ScoreLogRecord[]) => perItem(records, (r) => JSON.stringify(r));

/**
 * postMessage (the sender's side) and delivery (the receiver's: deserialise + dispatch), µs per record
 * when each message carries `perMessage` records.
 */
async function handOff(messages: unknown[], perMessage: number): Promise<{ post: number; receive: number }> {
  const { port1, port2 } = new MessageChannel();
  let got = 0;
  port2.on('message', () => got++);
  const post: number[] = [];
  const receive: number[] = [];
  for (let r = 0; r < REPEATS + 3; r++) {
    got = 0;
    const t = process.cpuUsage();
    for (let i = 0; i < 4; i++) for (const m of messages) port1.postMessage(m);
    const posting = cpuUs(t);
    const t2 = process.cpuUsage();
    while (got < 4 * messages.length) await new Promise((resolve) => setImmediate(resolve));
    if (r >= 3) {
      post.push(posting / (4 * messages.length * perMessage));
      receive.push(cpuUs(t2) / (4 * messages.length * perMessage));
    }
  }
  port1.close();
  return { post: median(post), receive: median(receive) };
}

/** kafkajs sending `messages` in requests of CHUNK, CPU µs per message (median). */
async function sendStep(k: KafkaInit, topic: string, messages: Message[]): Promise<number> {
  const producer = createKafka(k).producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const sendAll = async () => {
    for (let i = 0; i < messages.length; i += CHUNK)
      await producer.send({ topic, messages: messages.slice(i, i + CHUNK) });
  };
  await sendAll();
  await sendAll();
  const runs: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const t = process.cpuUsage();
    await sendAll();
    runs.push(cpuUs(t) / messages.length);
  }
  await producer.disconnect();
  return median(runs);
}

type Row = [step: string, where: string, value: number];

function printRows(title: string, rows: Row[], baseline: number, unit = 'µs', ratioLabel = '× encoding') {
  console.log(`\n${title}`);
  console.log(`${'step'.padEnd(50)} ${'where'.padEnd(12)} ${unit.padStart(8)}  ${ratioLabel}`);
  for (const [step, where, v] of rows)
    console.log(
      `${step.padEnd(50)} ${where.padEnd(12)} ${v.toFixed(1).padStart(8)}  ${(v / baseline).toFixed(2)}`,
    );
}

/** The packed value must be the JSON of the record, or the steps time the wrong thing. */
function checkEncoding(records: ScoreLogRecord[], values: Message[]): void {
  values.forEach((m, i) => {
    const r = records[i]!;
    if (m.key !== r.user_id || !isDeepStrictEqual(JSON.parse(m.value), JSON.parse(JSON.stringify(r))))
      throw new Error('the packed encoding is not the JSON of the record');
  });
}

async function steps(records: ScoreLogRecord[], k: KafkaInit, topic: string, baseline: number) {
  const packed = records.map(packScoreLog);
  // The hand-off posts what gathered over a flush interval: RATE / 5 records at 200 ms.
  const perBatch = Math.max(1, Math.round(RATE / 5));
  const batches = Array.from({ length: Math.floor(packed.length / perBatch) }, (_, i) => ({
    records: packed.slice(i * perBatch, (i + 1) * perBatch),
  }));
  const values = packed.map((p) => ({ key: p.key, value: scoreLogValue(p) }));
  checkEncoding(records, values);
  const hand = await handOff(batches, perBatch);
  const rows: Row[] = [
    ['pack (JSON of all but CTRs)', 'request loop', perItem(records, packScoreLog)],
    [`hand-off: postMessage (${perBatch} records each)`, 'request loop', hand.post],
    ['hand-off: delivery (deserialise)', 'thread', hand.receive],
    ['JSON of the CTRs', 'thread', perItem(packed, scoreLogValue)],
    ['contract check of the value', 'thread', perItem(values, (v) => checkScoreLogValue(v.value))],
    [`kafkajs send, ${CHUNK} per request`, 'thread', await sendStep(k, topic, values)],
  ];
  const total = (where: string) => rows.filter((r) => r[1] === where).reduce((s, r) => s + r[2], 0);
  const loop = total('request loop');
  const thread = total('thread');
  rows.push(['total', 'request loop', loop], ['total', 'thread', thread], ['total', 'both', loop + thread]);
  const kib = (values[0]!.value.length / 1024).toFixed(1);
  printRows(
    `Steps: CPU µs per record, median of ${REPEATS} (${CANDIDATES} candidates, ${kib} KiB of JSON)`,
    rows,
    baseline,
  );
  return { loop, thread };
}

// ---- end to end ----

/** CPU ms of each of this process's threads (schedstat: ns). */
function threadCpuMs(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      out.set(tid, Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6);
    } catch {
      // the thread has ended
    }
  }
  return out;
}

function brokerCpuMs(): number {
  try {
    const pid = readFileSync(
      join(__dirname, '..', '..', '.local', 'stack', 'run', 'kafka.pid'),
      'utf8',
    ).trim();
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // utime + stime, 10 ms ticks
  } catch {
    return NaN;
  }
}

interface E2e {
  main: number;
  thread: number;
  others: number;
  broker: number;
  idleThread: number;
  idleOthers: number;
}

/** A publish per record on this thread, as the scorer's request loop does. */
interface Path {
  publish(r: ScoreLogRecord): void;
  close(): Promise<void>;
}

type ThreadCount = { count?: string; n?: number; log?: string };

function producerPath(init: ScoreLogThreadInit, counted: (m: ThreadCount) => void): Path {
  const config = {
    KAFKA_BROKERS: init.kafka.KAFKA_BROKERS,
    KAFKA_CLIENT_ID: CLIENT_ID,
    KAFKA_TOPIC_SCORES: init.topic,
  };
  const scorer = {
    SCORER_SCORE_LOG_ENABLED: true,
    SCORER_SCORE_LOG_MAX_QUEUE: init.maxQueue,
    SCORER_SCORE_LOG_BATCH_RECORDS: init.batchRecords,
    SCORER_SCORE_LOG_MAX_BATCH_BYTES: init.maxBatchBytes,
    SCORER_SCORE_LOG_FLUSH_MS: init.flushMs,
  };
  const metrics = { scoreLogs: { inc: (l: { result: string }, n = 1) => counted({ count: l.result, n }) } };
  const logger = { warn: console.error, error: console.error };
  type Args = ConstructorParameters<typeof ScoreLogProducer>;
  const producer = new ScoreLogProducer(
    config as unknown as Args[0],
    scorer as unknown as Args[1],
    metrics as unknown as Args[2],
    logger as unknown as Args[3],
  );
  producer.onApplicationBootstrap();
  return { publish: (r) => producer.publish(r), close: () => producer.onApplicationShutdown() };
}

/** The posting loop alone (its record building and timers cost the same in both runs). */
function basePath(counted: (m: ThreadCount) => void): Path {
  return { publish: () => counted({ count: 'produced', n: 1 }), close: async () => undefined };
}

async function endToEnd(
  variant: E2eVariant,
  records: ScoreLogRecord[],
  init: ScoreLogThreadInit,
): Promise<E2e> {
  const before = new Set(threadCpuMs().keys());
  let produced = 0;
  const counted = (m: ThreadCount) => {
    if (m.count === 'produced') produced += m.n!;
    else if (m.count || m.log) console.error(`  [${variant}]`, m);
  };
  const path = variant === 'producer' ? producerPath(init, counted) : basePath(counted);
  const post = async (n: number) => {
    const start = produced;
    const t0 = Date.now();
    for (let i = 0; i < n; i++) {
      path.publish(FRESH ? makeRecord(i) : records[i % records.length]!);
      const wait = t0 + ((i + 1) * 1000) / RATE - Date.now();
      if (wait > 0) await sleep(wait);
    }
    while (produced - start < n) await sleep(10);
  };
  try {
    await post(Math.ceil(RATE * 1.5)); // warm-up: connects, compiles
    await sleep(300);
    const mine = [...threadCpuMs().keys()].filter((t) => !before.has(t));
    const main = String(process.pid);
    const split = (a: Map<string, number>, b: Map<string, number>) => {
      let thr = 0;
      let others = 0;
      for (const [t, v] of b) {
        if (t === main) continue;
        if (mine.includes(t)) thr += v - (a.get(t) ?? v);
        else others += v - (a.get(t) ?? v);
      }
      return { main: b.get(main)! - a.get(main)!, thread: thr, others };
    };
    let a = threadCpuMs();
    await sleep(2_000); // idle: connected, nothing to send
    const idle = split(a, threadCpuMs());
    const n = Math.round(RATE * SECONDS);
    a = threadCpuMs();
    const broker0 = brokerCpuMs();
    await post(n);
    const busy = split(a, threadCpuMs());
    const perRecord = (ms: number) => (ms * 1000) / n;
    return {
      main: perRecord(busy.main),
      thread: perRecord(busy.thread),
      others: perRecord(busy.others),
      broker: perRecord(brokerCpuMs() - broker0),
      idleThread: idle.thread / 2,
      idleOthers: idle.others / 2,
    };
  } finally {
    await path.close();
  }
}

/** One end-to-end run in a process of its own, as the scorer has one thread for its life. */
async function endToEndInChild(variant: E2eVariant, topic: string): Promise<E2e> {
  const args = ['-r', join(__dirname, '..', '..', 'scripts', 'register.js'), __filename, '--child', variant];
  args.push('--topic', topic, '--rate', String(RATE), '--seconds', String(SECONDS));
  if (!FRESH) args.push('--pooled');
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 1 << 20 });
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`no result from the ${variant} run:\n${stdout}`);
  return JSON.parse(line.slice('RESULT '.length)) as E2e;
}

async function child(variant: E2eVariant, topic: string) {
  const config = loadConfig();
  const kafka: KafkaInit = { KAFKA_BROKERS: config.KAFKA_BROKERS, KAFKA_CLIENT_ID: CLIENT_ID };
  const init: ScoreLogThreadInit = {
    kafka,
    topic,
    maxQueue: 20_000,
    batchRecords: CHUNK,
    maxBatchBytes: 1_000_000,
    flushMs: 200,
  };
  const records = Array.from({ length: POOL }, (_, k) => makeRecord(k));
  // Compiled and warm before measuring, like the scorer's after its first requests.
  for (let i = 0; i < 20; i++) records.forEach(packScoreLog);
  console.log(`RESULT ${JSON.stringify(await endToEnd(variant, records, init))}`);
}

/** Producer and bare-loop runs, each in a fresh process, alternating which goes first. */
async function endToEndRuns(topic: string): Promise<Record<E2eVariant, E2e[]>> {
  const runs: Record<E2eVariant, E2e[]> = { producer: [], base: [] };
  const orders = [
    ['base', 'producer'],
    ['producer', 'base'],
  ] as const;
  for (let r = 0; r < RUNS; r++)
    for (const v of orders[r % 2]!) {
      const res = await endToEndInChild(v, topic);
      runs[v].push(res);
      console.error(
        `  run ${r + 1} ${v}: ${JSON.stringify(res, (_k, x: unknown) => (typeof x === 'number' ? Math.round(x) : x))}`,
      );
    }
  return runs;
}

function printEndToEnd(runs: Record<E2eVariant, E2e[]>, baseline: number): number {
  const m = (v: E2eVariant, k: keyof E2e) => median(runs[v].map((x) => x[k]));
  const net = (k: keyof E2e) => m('producer', k) - m('base', k);
  const rows: Row[] = [
    ['hand-off (pack; batched)', 'request loop', net('main')],
    ['score log thread', 'thread', net('thread')],
    ['V8 helper threads (GC, compiler)', 'others', net('others')],
  ];
  const inProcess = rows[0]![2] + rows[1]![2] + rows[2]![2];
  rows.push(['total in the process', '', inProcess], ['Kafka broker', 'broker', net('broker')]);
  printRows(
    `End to end: ${RATE} records/s for ${SECONDS} s, ${CHUNK} per request, 200 ms flushes; CPU µs per record, ` +
      `medians of ${RUNS} runs less the posting loop's own (request loop ${m('base', 'main').toFixed(0)}, ` +
      `others ${m('base', 'others').toFixed(0)}, broker ${m('base', 'broker').toFixed(0)})`,
    rows,
    baseline,
  );
  // Idle cost per second in the baseline's unit: as many records' encoding per second.
  printRows(
    'Connected and idle: CPU ms per second',
    [
      ['score log thread', 'thread', m('producer', 'idleThread')],
      ['V8 helper threads', 'others', m('producer', 'idleOthers')],
    ],
    baseline / 1000,
    'ms',
    'encodings/s',
  );
  return inProcess;
}

async function main() {
  const config = loadConfig();
  const kafka: KafkaInit = { KAFKA_BROKERS: config.KAFKA_BROKERS, KAFKA_CLIENT_ID: CLIENT_ID };
  const patches = patchKafkajs();
  if (!Object.values(patches).every(Boolean)) console.error('kafkajs patches not all in place:', patches);
  const records = Array.from({ length: POOL }, (_, k) => makeRecord(k));
  const baseline = encodingAlone(records);
  console.log(`Baseline: JSON.stringify of one record on the request loop, ${baseline.toFixed(1)} µs CPU`);
  const topic = `mmctr.bench.score-log-cpu.${process.pid}`;
  const admin = createKafka(kafka).admin();
  await admin.connect();
  await admin.createTopics({
    topics: [{ topic, numPartitions: 4, replicationFactor: 1 }],
    waitForLeaders: true,
  });
  try {
    const stepTotals = process.argv.includes('--end-to-end-only')
      ? null
      : await steps(records, kafka, topic, baseline);
    const inProcess = process.argv.includes('--steps-only')
      ? null
      : printEndToEnd(await endToEndRuns(topic), baseline);
    const again = encodingAlone(records);
    const x = (us: number) => `${us.toFixed(0)} µs = ${(us / baseline).toFixed(2)}× encoding`;
    const summary = [
      stepTotals && `steps ${x(stepTotals.loop + stepTotals.thread)} (request loop ${x(stepTotals.loop)})`,
      inProcess !== null && `end to end in the process ${x(inProcess)}`,
    ].filter(Boolean);
    console.log(
      `\nScore log, CPU per record: ${summary.join('; ')}. ` +
        `Encoding alone ${baseline.toFixed(1)} µs (again at the end: ${again.toFixed(1)} µs).`,
    );
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

const role = process.argv.includes('--child') ? arg('child', '') : null;
if (role !== null && role !== 'producer' && role !== 'base')
  throw new Error(`--child ${role}: producer or base`);
(role ? child(role, arg('topic', '')) : main()).catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
