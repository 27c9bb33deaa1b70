import { Kafka, logLevel, type KafkaConfig, type LogEntry } from 'kafkajs';
import type { AppConfig } from '@mmctr/config';
import { patchKafkajs } from './kafkajs-patches';

const LEVEL_NAMES: Record<number, string> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** kafkajs logs as structured JSON lines on stderr, like the rest of the platform. */
function jsonLogCreator() {
  return ({ namespace, level, log }: LogEntry) => {
    const { message, timestamp: _t, ...extra } = log;
    process.stderr.write(
      JSON.stringify({
        level: LEVEL_NAMES[level] ?? level,
        time: Date.now(),
        component: `kafkajs.${namespace}`,
        msg: message,
        ...extra,
      }) + '\n',
    );
  };
}

// The platform keys by user/item id and always used the default (murmur2) partitioner of v2.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

patchKafkajs();

export function createKafka(
  config: Pick<AppConfig, 'KAFKA_BROKERS' | 'KAFKA_CLIENT_ID'>,
  overrides: Partial<KafkaConfig> = {},
): Kafka {
  return new Kafka({
    clientId: config.KAFKA_CLIENT_ID,
    brokers: config.KAFKA_BROKERS,
    logLevel: logLevel.WARN,
    logCreator: jsonLogCreator,
    retry: { initialRetryTime: 200, retries: 8 },
    ...overrides,
  });
}
