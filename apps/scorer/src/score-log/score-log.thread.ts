// The score log's producer thread. Printing a few hundred CTRs per record and producing it (kafkajs
// encodes and checksums in JavaScript) blocked the request loop for milliseconds at every flush; here
// it runs beside it. Records arrive validated and mostly encoded (score-log-codec.ts).
import { parentPort, workerData } from 'node:worker_threads';
import type { AppConfig } from '@mmctr/config';
import { createKafka } from '@mmctr/kafka';
import { serveScoreLog, type ScoreLogFromThread } from './score-log-sender';

export interface ScoreLogThreadInit {
  kafka: Pick<AppConfig, 'KAFKA_BROKERS' | 'KAFKA_CLIENT_ID'>;
  topic: string;
  maxQueue: number;
  batchRecords: number;
  maxBatchBytes: number;
  flushMs: number;
}

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

  serveScoreLog(
    port,
    init,
    {
      send: async (messages) => {
        await connect();
        await producer.send({ topic: init.topic, messages });
      },
    },
    () => producer.disconnect().catch(() => undefined),
  );
}

main();
