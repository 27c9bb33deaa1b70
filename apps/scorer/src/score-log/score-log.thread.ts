// The score log's producer thread. Validating, JSON-encoding and producing a few hundred candidates
// per record (kafkajs encodes and checksums in JavaScript) blocked the request loop for milliseconds
// at every flush; here it runs beside it.
import { parentPort, workerData } from 'node:worker_threads';
import type { AppConfig } from '@mmctr/config';
import type { ScoreLogRecord } from '@mmctr/contracts';
import { createKafka } from '@mmctr/kafka';
import { ScoreLogSender, type ScoreLogResult } from './score-log-sender';

export interface ScoreLogThreadInit {
  kafka: Pick<AppConfig, 'KAFKA_BROKERS' | 'KAFKA_CLIENT_ID'>;
  topic: string;
  maxQueue: number;
  batchRecords: number;
  flushMs: number;
}

export type ScoreLogToThread = { record: ScoreLogRecord } | { close: true };

export type ScoreLogFromThread =
  | { count: ScoreLogResult; n: number }
  | { log: 'warn' | 'error'; obj: Record<string, unknown>; msg: string }
  | { closed: true };

function main(): void {
  const port = parentPort!;
  const init = workerData as ScoreLogThreadInit;
  const post = (m: ScoreLogFromThread) => port.postMessage(m);
  const producer = createKafka(init.kafka).producer({ allowAutoTopicCreation: false });
  let connected: Promise<void> | undefined;
  // Connect in the background: the scorer serves while Kafka is away; records wait in the queue.
  const connect = () =>
    (connected ??= producer.connect().catch((err: Error) => {
      connected = undefined;
      post({
        log: 'error',
        obj: { err: err.message },
        msg: 'score log producer failed to connect; retrying on the next flush',
      });
      throw err;
    }));
  void connect().catch(() => undefined);

  const sender = new ScoreLogSender(
    {
      send: async (messages) => {
        await connect();
        await producer.send({ topic: init.topic, messages });
      },
    },
    init,
    {
      count: (result, n) => post({ count: result, n }),
      warn: (obj, msg) => post({ log: 'warn', obj, msg }),
      error: (obj, msg) => post({ log: 'error', obj, msg }),
    },
  );
  const timer = setInterval(() => void sender.flush(), init.flushMs);
  port.on('message', (m: ScoreLogToThread) => {
    if ('record' in m) return sender.push(m.record);
    clearInterval(timer);
    void sender
      .flush()
      .then(() => producer.disconnect().catch(() => undefined))
      .then(() => post({ closed: true }));
  });
}

main();
