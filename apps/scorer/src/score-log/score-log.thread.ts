// The score log's producer thread. Printing a few hundred CTRs per record and producing it (kafkajs
// encodes and checksums in JavaScript) blocked the request loop for milliseconds at every flush; here
// it runs beside it. Records arrive mostly encoded (score-log-codec.ts) and are checked against the contract here; Kafka is behind
// ScoreLogKafkaRepository.
import { parentPort, workerData } from 'node:worker_threads';
import type { AppConfig } from '@mmctr/config';
import { ScoreLogKafkaRepository } from './score-log-kafka.repository';
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
  const kafka = new ScoreLogKafkaRepository(init.kafka, init.topic, (err) =>
    post({
      log: 'error',
      obj: { err: err.message },
      msg: 'score log producer failed to connect; retrying on the next flush',
    }),
  );
  void kafka.connect().catch(() => undefined);
  serveScoreLog(port, init, kafka, () => kafka.close());
}

main();
