import type { Kafka, Producer } from 'kafkajs';
import type { ScoreLogRecord } from '@mmctr/contracts';
import { createKafka, ensureTopics, withKafkaAdmin } from '@mmctr/kafka';
import { testConfig, uniqueName } from '../../../../test/support/clients';
import { deleteTopics } from '../../../../test/support/kafka-group';
import { testScoreLogRecord } from '../../test/support/score-log-record';
import { packScoreLog, scoreLogValue, type PackedScoreLog } from './score-log-codec';
import { ScoreLogSender, type ScoreLogResult } from './score-log-sender';

// The real broker refuses a record batch over the topic's max.message.bytes for good: a sender whose
// chunks can exceed it stalls the whole log; the byte cap keeps every chunk under it.
const TOPIC_MAX_BYTES = 64 * 1024;

/** A record of `n` candidates (about 31 bytes each in the log's JSON). */
function packed(i: number, n: number): PackedScoreLog {
  const ctrs = Object.fromEntries(Array.from({ length: n }, (_, k) => [`item-${i}-${k}`, 0.01 + k * 1e-5]));
  return packScoreLog(testScoreLogRecord(i, ctrs));
}

describe('ScoreLogSender against the real broker', () => {
  let kafka: Kafka;
  let producer: Producer;
  let topic: string;

  beforeAll(async () => {
    kafka = createKafka(testConfig());
    topic = uniqueName('mmctr.test.scores');
    await ensureTopics(kafka, [
      {
        topic,
        numPartitions: 1,
        replicationFactor: 1,
        configEntries: [{ name: 'max.message.bytes', value: String(TOPIC_MAX_BYTES) }],
      },
    ]);
    producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
  });

  afterAll(async () => {
    await producer.disconnect();
    await deleteTopics(kafka, [topic]);
  });

  const sender = (batchRecords: number, maxBatchBytes: number) => {
    const counts: Partial<Record<ScoreLogResult, number>> = {};
    const warnings: string[] = [];
    const s = new ScoreLogSender(
      { send: async (messages) => void (await producer.send({ topic, messages })) },
      { maxQueue: 1000, batchRecords, maxBatchBytes },
      {
        count: (r, n) => (counts[r] = (counts[r] ?? 0) + n),
        warn: (_o, msg) => warnings.push(msg),
        error: (_o, msg) => warnings.push(msg),
      },
    );
    return { s, counts, warnings };
  };

  async function topicRecords(): Promise<string[]> {
    const offsets = (await withKafkaAdmin(kafka, (admin) => admin.fetchTopicOffsets(topic)))[0]!;
    const end = Number(offsets.high);
    const ids: string[] = [];
    if (end === 0) return ids;
    const consumer = kafka.consumer({ groupId: uniqueName('mmctr-test-scores') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          ids.push((JSON.parse(message.value!.toString()) as ScoreLogRecord).request_id);
          if (Number(message.offset) + 1 >= end) resolve();
        },
      });
    });
    await consumer.disconnect();
    return ids;
  }

  it('without a byte cap below the broker limit a chunk is refused and stays at the head of the queue', async () => {
    const { s, counts, warnings } = sender(8, 10 * TOPIC_MAX_BYTES);
    const records = Array.from({ length: 4 }, (_, i) => packed(i, 600));
    const bytes = records.map((r) => Buffer.byteLength(scoreLogValue(r)));
    expect(Math.max(...bytes)).toBeLessThan(TOPIC_MAX_BYTES / 2);
    expect(bytes.reduce((a, b) => a + b)).toBeGreaterThan(TOPIC_MAX_BYTES); // one chunk of 4: too big
    records.forEach((r) => s.push(r));
    await s.flush();
    expect(counts.produced).toBeUndefined();
    expect(s.queued).toBe(4);
    expect(warnings).toEqual(['score log send failed; will retry']);
    await s.flush(); // refused again: Kafka does not take it later either
    expect(s.queued).toBe(4);
  });

  it('with the cap under the limit every record arrives, and one too large on its own is dropped', async () => {
    const { s, counts, warnings } = sender(8, TOPIC_MAX_BYTES - 4096);
    for (let i = 10; i < 14; i++) s.push(packed(i, 600));
    const big = packed(14, 3000);
    expect(Buffer.byteLength(scoreLogValue(big))).toBeGreaterThan(TOPIC_MAX_BYTES); // over the cap by itself
    s.push(big);
    s.push(packed(15, 600));
    await s.flush();
    expect(s.queued).toBe(0);
    expect(counts).toEqual({ produced: 5, dropped: 1 });
    expect(warnings).toEqual(['score log record larger than SCORER_SCORE_LOG_MAX_BATCH_BYTES; dropped']);
    expect(await topicRecords()).toEqual(['r10', 'r11', 'r12', 'r13', 'r15']);
  });
});
