export * from './kafka-client';
export * from './topics';
export * from './event-producer';
export * from './kafkajs-patches';
export * from './dead-letter-producer';
export * from './offsets';
export * from './batch-consumer';
export * from './retry';
