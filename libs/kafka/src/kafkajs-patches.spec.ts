import { randomBytes } from 'node:crypto';
import { crc32c, patchKafkajs } from './kafkajs-patches';

/* eslint-disable @typescript-eslint/no-require-imports -- kafkajs internals, as the patches use them */
interface Queue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  scheduleCheckPendingRequests(): void;
  destroy(): void;
}
const queue = (): Queue => {
  const RequestQueue = require('kafkajs/src/network/requestQueue') as new (opts: object) => Queue;
  return new RequestQueue({
    maxInFlightRequests: null,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: 'test',
    broker: 'localhost:9092',
    logger: { debug: () => undefined, warn: () => undefined, error: () => undefined },
  });
};

describe('kafkajs patches', () => {
  let applied: ReturnType<typeof patchKafkajs>;
  beforeAll(() => (applied = patchKafkajs()));

  it('apply to kafkajs 2.2.4, idempotently (the CRC one needs require.cache, which jest has not)', () => {
    expect(applied).toEqual({ idlePoll: true, crc32c: false });
    expect(patchKafkajs()).toEqual(applied);
  });

  it('arm no timer for an empty, unthrottled request queue (kafkajs re-armed one every 1 ms)', () => {
    const q = queue();
    q.scheduleCheckPendingRequests();
    expect(q.throttleCheckTimeoutId).toBeNull();
  });

  it('still check pending requests, and a throttled queue when the throttle ends', () => {
    const pending = queue();
    pending.pending.push({});
    pending.scheduleCheckPendingRequests();
    expect(pending.throttleCheckTimeoutId).not.toBeNull();
    pending.destroy();

    const throttled = queue();
    throttled.throttledUntil = Date.now() + 1_000;
    throttled.scheduleCheckPendingRequests();
    expect(throttled.throttleCheckTimeoutId).not.toBeNull();
    throttled.destroy();
  });

  it('crc32c matches kafkajs’ CRC32C at every length and offset, and the standard check value', () => {
    const original = require('kafkajs/src/protocol/recordBatch/crc32C') as (b: Buffer) => number;
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(original(Buffer.alloc(0)));
    const data = randomBytes(70_000);
    for (let len = 0; len < 70; len++)
      expect(crc32c(data.subarray(3, 3 + len))).toBe(original(data.subarray(3, 3 + len)));
    for (let t = 0; t < 200; t++) {
      const from = Math.floor(Math.random() * 1_000);
      const b = data.subarray(from, from + Math.floor(Math.random() * 69_000));
      expect(crc32c(b)).toBe(original(b));
    }
  });
});
