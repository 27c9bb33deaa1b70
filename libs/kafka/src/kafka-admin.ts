import type { Admin, Kafka } from 'kafkajs';

/** Runs `fn` with a connected admin client of `kafka`, and disconnects it afterwards, whatever `fn` did. */
export async function withKafkaAdmin<T>(kafka: Kafka, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}
