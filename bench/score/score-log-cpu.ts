// CPU per score log record, old path vs new, in isolation (no scorer, no model): realistic records
// (500 candidates, 64 history items, float32 CTRs widened to float64, as score.service.ts builds them).
//
// 1. Steps, one at a time (CPU time, median over repeats): the hand-off through a MessageChannel
//    (postMessage on the request loop; delivery, i.e. deserialising, on the thread), validation, JSON
//    encoding, and kafkajs sending 8-record requests to a scratch topic (in a worker each: the old one
//    with kafkajs as it is, the new one with @mmctr/kafka's kafkajs patches).
// 2. End to end: a record published every 1/--rate s through the real ScoreLogProducer and thread
//    (new) and through a copy of the old hand-off and thread (oldThread below), and through nothing
//    (the posting loop's own cost, subtracted), each run in a fresh process, in rotating order; CPU
//    per record of the posting thread (the request loop's part), the score log thread, the rest of the
//    process (V8's helper threads) from /proc/<tid>/schedstat (ns), and of the Kafka broker (10 ms
//    ticks); medians over runs. Plus CPU per second while connected and idle.
// CPU time, not wall time: the box is shared. Needs the local stack (deploy/local/up) for Kafka; the
// scratch topic is deleted at the end. ~1.5 minutes.
//
// Usage: node -r ./scripts/register.js bench/score/score-log-cpu.ts [--candidates 500] [--repeats 7]
//        [--rate 75] [--seconds 4] [--runs 3] [--pooled] [--steps-only | --end-to-end-only]
import '../../test/setup/load-stack-env.js';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual, promisify } from 'node:util';
import { MessageChannel, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { validate, type ScoreLogRecord } from '@mmctr/contracts';
import { startWorkerThread } from '@mmctr/observability';
import { packScoreLog, scoreLogValue } from '../../apps/scorer/src/score-log/score-log-codec';
import type { ScoreLogThreadInit } from '../../apps/scorer/src/score-log/score-log.thread';
import { arg, numberArg } from '../support/cli-args';

const CANDIDATES = numberArg('candidates', 500);
const REPEATS = numberArg('repeats', 7);
const RATE = numberArg('rate', 75);
const SECONDS = numberArg('seconds', 4);
const RUNS = numberArg('runs', 3);
// Each published record built just before (as the scorer does), not one of the pool: a pooled record
// is cold in the caches by its turn, which inflates the request loop's share of both paths.
const FRESH = !process.argv.includes('--pooled');
// The scorer's SCORER_SCORE_LOG_BATCH_RECORDS when docs/scorer.md's figures were taken (now 32), kept
// so that reruns compare with them.
const CHUNK = 8;
const POOL = 64; // distinct records, reused round robin
const CLIENT_ID = 'mmctr-bench-score-log';

type Variant = 'old' | 'new';
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

/** What the old hand-off posted, and what the old thread did with it. */
const oldMessage = (r: ScoreLogRecord) => ({ record: r });
const oldEncode = (r: ScoreLogRecord): Message | null =>
  validate('scoreLog', r).ok ? { key: r.user_id, value: JSON.stringify(r) } : null;
const pack = (r: ScoreLogRecord) => {
  const p = packScoreLog(r);
  if (!p.ok) throw new Error(p.reason);
  return p.packed;
};

/** kafkajs as the old thread had it: no patches (this must not load @mmctr/kafka). */
const rawKafka = (k: KafkaInit) => {
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1'; // as @mmctr/kafka sets it
  return new Kafka({
    clientId: k.KAFKA_CLIENT_ID,
    brokers: k.KAFKA_BROKERS,
    logLevel: logLevel.WARN,
    retry: { initialRetryTime: 200, retries: 8 },
  });
};

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

/**
 * postMessage (the sender's side) and delivery (the receiver's: deserialise + dispatch), µs per record
 * when each message carries `perMessage` records.
 */
async function handOff(messages: unknown[], perMessage = 1): Promise<{ post: number; receive: number }> {
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

/** In a worker: kafkajs sending `messages` in requests of CHUNK, CPU µs per message (median). */
async function sendStep(k: KafkaInit, topic: string, variant: Variant, messages: Message[]) {
  let producer: Producer;
  if (variant === 'new') {
    const { createKafka } = await import('@mmctr/kafka');
    producer = createKafka(k).producer({ allowAutoTopicCreation: false });
  } else producer = rawKafka(k).producer({ allowAutoTopicCreation: false });
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

type Row = [step: string, where: string, old: number, new: number];

function printRows(title: string, rows: Row[], unit = 'µs') {
  console.log(`\n${title}`);
  console.log(
    `${'step'.padEnd(46)} ${'where'.padEnd(12)} ${`old ${unit}`.padStart(8)} ${`new ${unit}`.padStart(8)}  new/old`,
  );
  for (const [step, where, o, n] of rows) {
    const ratio = o > 0 ? (n / o).toFixed(2) : '-';
    console.log(
      `${step.padEnd(46)} ${where.padEnd(12)} ${o.toFixed(1).padStart(8)} ${n.toFixed(1).padStart(8)}  ${ratio}`,
    );
  }
}

function runWorker<T>(data: object): Promise<T> {
  const w = startWorkerThread(__dirname, 'score-log-cpu', data);
  return new Promise<T>((resolve, reject) => {
    w.once('message', (m: T) => {
      resolve(m);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

async function steps(records: ScoreLogRecord[], k: KafkaInit, topic: string): Promise<Row[]> {
  const oldMsgs = records.map(oldMessage);
  const packed = records.map(pack);
  // The new hand-off posts what gathered over a flush interval: RATE / 5 records at 200 ms.
  const perBatch = Math.max(1, Math.round(RATE / 5));
  const newMsgs = Array.from({ length: Math.floor(packed.length / perBatch) }, (_, i) => ({
    records: packed.slice(i * perBatch, (i + 1) * perBatch),
  }));
  const oldValues = records.map((r) => oldEncode(r)!);
  const newValues = packed.map((p) => ({ key: p.key, value: scoreLogValue(p) }));
  newValues.forEach((m, i) => {
    if (
      m.key !== oldValues[i]!.key ||
      !isDeepStrictEqual(JSON.parse(m.value), JSON.parse(oldValues[i]!.value))
    )
      throw new Error('the new encoding is not the JSON of the record');
  });
  const oldHand = await handOff(oldMsgs);
  const newHand = await handOff(newMsgs, perBatch);
  const rows: Row[] = [
    ['validate + pack (contract; JSON of all but CTRs)', 'request loop', 0, perItem(records, packScoreLog)],
    [`hand-off: postMessage (new: ${perBatch} records each)`, 'request loop', oldHand.post, newHand.post],
    ['hand-off: delivery (deserialise)', 'thread', oldHand.receive, newHand.receive],
    ['validate (contract)', 'thread', perItem(records, (r) => validate('scoreLog', r)), 0],
    [
      'JSON (old: JSON.stringify; new: the CTRs)',
      'thread',
      perItem(records, (r) => JSON.stringify(r)),
      perItem(packed, scoreLogValue),
    ],
    [
      `kafkajs send, ${CHUNK} per request`,
      'thread',
      await runWorker<number>({ role: 'send', variant: 'old', kafka: k, topic, messages: oldValues }),
      await runWorker<number>({ role: 'send', variant: 'new', kafka: k, topic, messages: newValues }),
    ],
  ];
  const total = (where: string, i: 2 | 3) => rows.filter((r) => r[1] === where).reduce((s, r) => s + r[i], 0);
  rows.push(['total', 'request loop', total('request loop', 2), total('request loop', 3)]);
  rows.push(['total', 'thread', total('thread', 2), total('thread', 3)]);
  rows.push(['total', 'both', rows.at(-2)![2] + rows.at(-1)![2], rows.at(-2)![3] + rows.at(-1)![3]]);
  const kib = (oldValues[0]!.value.length / 1024).toFixed(1);
  printRows(
    `Steps: CPU µs per record, median of ${REPEATS} (${CANDIDATES} candidates, ${kib} KiB of JSON)`,
    rows,
  );
  return rows;
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

/** The two paths as the scorer runs them: a publish per record on this thread, the thread beside it. */
interface Path {
  publish(r: ScoreLogRecord): void;
  close(): Promise<void>;
}

async function oldPathE2e(init: ScoreLogThreadInit, counted: (m: ThreadCount) => void): Promise<Path> {
  const thread = startWorkerThread(__dirname, 'score-log-cpu', { role: 'old-thread', init });
  thread.on('message', counted);
  return {
    publish: (r) => thread.postMessage(oldMessage(r)),
    close: async () => {
      thread.postMessage({ close: true });
      await Promise.race([new Promise((r) => thread.once('message', r)), sleep(5_000)]);
      await thread.terminate();
    },
  };
}

async function newPathE2e(init: ScoreLogThreadInit, counted: (m: ThreadCount) => void): Promise<Path> {
  const { ScoreLogProducer } = await import('../../apps/scorer/src/score-log/score-log.producer');
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

type ThreadCount = { count?: string; n?: number; log?: string };

/** The posting loop alone (its timers cost the same in both runs): subtracted from the others. */
async function basePathE2e(_init: ScoreLogThreadInit, counted: (m: ThreadCount) => void): Promise<Path> {
  return { publish: () => counted({ count: 'produced', n: 1 }), close: async () => undefined };
}

async function endToEnd(
  variant: Variant | 'base',
  records: ScoreLogRecord[],
  init: ScoreLogThreadInit,
): Promise<E2e> {
  const before = new Set(threadCpuMs().keys());
  let produced = 0;
  const counted = (m: ThreadCount) => {
    if (m.count === 'produced') produced += m.n!;
    else if (m.count || m.log) console.error(`  [${variant}]`, m);
  };
  const path = await { old: oldPathE2e, new: newPathE2e, base: basePathE2e }[variant](init, counted);
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

/** The score log thread as it was (kafkajs unpatched; validate + JSON.stringify; a count per request). */
function oldThread(init: ScoreLogThreadInit): void {
  const port = parentPort!;
  const producer = rawKafka(init.kafka).producer({ allowAutoTopicCreation: false });
  const connected = producer.connect();
  const queue: ScoreLogRecord[] = [];
  let sending = false;
  const flush = async () => {
    if (sending) return;
    sending = true;
    try {
      await connected;
      while (queue.length > 0) {
        const messages = queue.splice(0, init.batchRecords).flatMap((r) => oldEncode(r) ?? []);
        await producer.send({ topic: init.topic, messages });
        port.postMessage({ count: 'produced', n: messages.length });
      }
    } finally {
      sending = false;
    }
  };
  const timer = setInterval(() => void flush(), init.flushMs);
  port.on('message', (m: { record: ScoreLogRecord } | { close: true }) => {
    if ('record' in m) {
      if (queue.length < init.maxQueue) queue.push(m.record);
      return;
    }
    clearInterval(timer);
    void flush()
      .then(() => producer.disconnect())
      .then(() => port.postMessage({ closed: true }));
  });
}

/** One end-to-end run in a process of its own, as the scorer has one thread for its life. */
async function endToEndInChild(variant: Variant | 'base', topic: string): Promise<E2e> {
  const args = ['-r', join(__dirname, '..', '..', 'scripts', 'register.js'), __filename, '--child', variant];
  args.push('--topic', topic, '--rate', String(RATE), '--seconds', String(SECONDS));
  if (!FRESH) args.push('--pooled');
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 1 << 20 });
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`no result from the ${variant} run:\n${stdout}`);
  return JSON.parse(line.slice('RESULT '.length)) as E2e;
}

async function child(variant: Variant | 'base', topic: string) {
  const { loadConfig } = await import('@mmctr/config');
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
  await import('../../apps/scorer/src/score-log/score-log.producer');
  for (let i = 0; i < 20; i++) records.forEach(pack);
  console.log(`RESULT ${JSON.stringify(await endToEnd(variant, records, init))}`);
}

async function main() {
  // Loaded here, not at the top: the workers of the old path run this file too and need kafkajs unpatched.
  const { loadConfig } = await import('@mmctr/config');
  const { createKafka, patchKafkajs } = await import('@mmctr/kafka');
  const config = loadConfig();
  const kafka: KafkaInit = { KAFKA_BROKERS: config.KAFKA_BROKERS, KAFKA_CLIENT_ID: CLIENT_ID };
  const patches = patchKafkajs();
  if (!Object.values(patches).every(Boolean)) console.error('kafkajs patches not all in place:', patches);
  const records = Array.from({ length: POOL }, (_, k) => makeRecord(k));
  const topic = `mmctr.bench.score-log-cpu.${process.pid}`;
  const admin = createKafka(kafka).admin();
  await admin.connect();
  await admin.createTopics({
    topics: [{ topic, numPartitions: 4, replicationFactor: 1 }],
    waitForLeaders: true,
  });
  try {
    const stepRows = process.argv.includes('--end-to-end-only') ? [] : await steps(records, kafka, topic);
    if (process.argv.includes('--steps-only')) return;
    const runs: Record<Variant | 'base', E2e[]> = { old: [], new: [], base: [] };
    const orders = [
      ['base', 'old', 'new'],
      ['new', 'base', 'old'],
      ['old', 'new', 'base'],
    ] as const;
    for (let r = 0; r < RUNS; r++)
      for (const v of orders[r % 3]!) {
        const res = await endToEndInChild(v, topic);
        runs[v].push(res);
        console.error(
          `  run ${r + 1} ${v}: ${JSON.stringify(res, (_k, x: unknown) => (typeof x === 'number' ? Math.round(x) : x))}`,
        );
      }
    const m = (v: Variant | 'base', k: keyof E2e) => median(runs[v].map((x) => x[k]));
    const net = (v: Variant, k: keyof E2e) => m(v, k) - m('base', k);
    const row = (label: string, where: string, k: keyof E2e): Row => [
      label,
      where,
      net('old', k),
      net('new', k),
    ];
    const rows: Row[] = [
      row('hand-off (new: + validate, pack; batched)', 'request loop', 'main'),
      row('score log thread', 'thread', 'thread'),
      row('V8 helper threads (GC, compiler)', 'others', 'others'),
    ];
    rows.push([
      'total in the process',
      '',
      rows[0]![2] + rows[1]![2] + rows[2]![2],
      rows[0]![3] + rows[1]![3] + rows[2]![3],
    ]);
    rows.push(row('Kafka broker', 'broker', 'broker'));
    printRows(
      `End to end: ${RATE} records/s for ${SECONDS} s, ${CHUNK} per request, 200 ms flushes; CPU µs per record, ` +
        `medians of ${RUNS} runs less the posting loop's own (request loop ${m('base', 'main').toFixed(0)}, ` +
        `others ${m('base', 'others').toFixed(0)}, broker ${m('base', 'broker').toFixed(0)})`,
      rows,
    );
    printRows(
      'Connected and idle: CPU ms per second',
      [
        ['score log thread', 'thread', m('old', 'idleThread'), m('new', 'idleThread')],
        ['V8 helper threads', 'others', m('old', 'idleOthers'), m('new', 'idleOthers')],
      ],
      'ms',
    );
    const thr = stepRows.find((r) => r[0] === 'total' && r[1] === 'thread') ?? ['', '', NaN, NaN];
    console.log(
      `\nScore log thread, CPU per record: steps ${thr[2].toFixed(0)} → ${thr[3].toFixed(0)} µs (${(thr[3] / thr[2]).toFixed(2)}×), ` +
        `end to end ${m('old', 'thread').toFixed(0)} → ${m('new', 'thread').toFixed(0)} µs (${(m('new', 'thread') / m('old', 'thread')).toFixed(2)}×); ` +
        `the process ${rows[3]![2].toFixed(0)} → ${rows[3]![3].toFixed(0)} µs (${(rows[3]![3] / rows[3]![2]).toFixed(2)}×).`,
    );
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

type WorkerRole =
  | { role: 'old-thread'; init: ScoreLogThreadInit }
  | { role: 'send'; variant: Variant; kafka: KafkaInit; topic: string; messages: Message[] };

if (isMainThread) {
  const role = process.argv.includes('--child') ? arg('child', '') : null;
  (role ? child(role as Variant | 'base', arg('topic', '')) : main()).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
} else {
  const job = workerData as WorkerRole;
  if (job.role === 'old-thread') oldThread(job.init);
  else
    void sendStep(job.kafka, job.topic, job.variant, job.messages).then((us) => parentPort!.postMessage(us));
}
