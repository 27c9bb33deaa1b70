export * from './score-log-row';
export * from './score-log-consumer.repository';
export * from './score-log-dead-letter.repository';
export * from './score-log-sink.repository';
export * from './score-log-sink.service';
