// Patches to kafkajs 2.2.4, which is no longer maintained (last release 2023), applied once when
// @mmctr/kafka is loaded and only to that exact version:
// - idle poll (a bug): RequestQueue re-arms its pending-request check after every check, even with
//   nothing pending and no throttle, as setTimeout(check, negative) = 1 ms, forever, on every connection
//   (tulios/kafkajs#1556, #1704; the fixes #1667 / #1768 were never released). ~40 ms of CPU per second
//   per connected client here. A push() that cannot go out at once schedules its own check, so an empty,
//   unthrottled queue needs none.
// - CRC32C: every produced batch is checksummed in JavaScript a byte at a time (~47 µs per 18 KB
//   score log record); slicing-by-8 gives the same checksum ~3× faster.
// (Tried and dropped: letting kafkajs' Encoder grow into Buffer.allocUnsafe instead of zero-filled
// buffers. Cheaper per request, but the producing thread then ran a major GC every ~0.6 s.)
import Module from 'node:module';

/** The kafkajs version these patches were written against (checked before patching). */
export const PATCHED_KAFKAJS_VERSION = '2.2.4';

export interface KafkajsPatches {
  idlePoll: boolean;
  crc32c: boolean;
}

const PATCHED = Symbol.for('mmctr.kafkajs.patched');

interface RequestQueueState {
  pending: unknown[];
  throttledUntil: number;
}
interface RequestQueueProto {
  scheduleCheckPendingRequests: (this: RequestQueueState) => void;
  [PATCHED]?: true;
}
const CRC32C_MODULE = 'kafkajs/src/protocol/recordBatch/crc32C/index.js';

/* eslint-disable @typescript-eslint/no-require-imports -- kafkajs exports no handle on its internals */
const internal = <T>(path: string) => require(`kafkajs/src/${path}`) as T;

// CRC-32C (Castagnoli, reflected 0x82f63b78), slicing-by-8 tables.
const TABLES = Array.from({ length: 8 }, () => new Int32Array(256));
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  TABLES[0]![n] = c;
}
for (let n = 0; n < 256; n++)
  for (let k = 1; k < 8; k++)
    TABLES[k]![n] = (TABLES[k - 1]![n]! >>> 8) ^ TABLES[0]![TABLES[k - 1]![n]! & 0xff]!;
const [T0, T1, T2, T3, T4, T5, T6, T7] = TABLES as [
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
  Int32Array,
];

/** CRC-32C of `buf`, as an unsigned 32-bit number (what kafkajs' crc32C returns). */
export function crc32c(buf: Uint8Array): number {
  let crc = -1;
  let i = 0;
  const n = buf.length;
  for (const end = n - (n & 7); i < end; i += 8) {
    const a = crc ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    crc =
      T7[a & 0xff]! ^
      T6[(a >>> 8) & 0xff]! ^
      T5[(a >>> 16) & 0xff]! ^
      T4[a >>> 24]! ^
      T3[buf[i + 4]!]! ^
      T2[buf[i + 5]!]! ^
      T1[buf[i + 6]!]! ^
      T0[buf[i + 7]!]!;
  }
  for (; i < n; i++) crc = T0[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

function patchIdlePoll(): boolean {
  const proto = internal<{ prototype: RequestQueueProto }>('network/requestQueue').prototype;
  if (proto[PATCHED]) return true;
  const schedule = proto.scheduleCheckPendingRequests;
  proto.scheduleCheckPendingRequests = function (this: RequestQueueState) {
    if (this.pending.length === 0 && this.throttledUntil <= Date.now()) return;
    schedule.call(this);
  };
  proto[PATCHED] = true;
  return true;
}

// The record batch encoder holds kafkajs' crc32C module from its first load on, so ours has to be in
// the module cache before then (record batches load lazily, with the first produce request).
function patchCrc32c(): boolean {
  const path = require.resolve(CRC32C_MODULE);
  if (!require.cache[path]) {
    const m = new Module(path, module);
    m.filename = path;
    m.loaded = true;
    m.exports = crc32c;
    require.cache[path] = m;
  }
  return require(path) === crc32c; // false where something loaded it first, or without require.cache (jest)
}

/** Applies the patches above (idempotent); says which are in place. */
export function patchKafkajs(): KafkajsPatches {
  const { version } = require('kafkajs/package.json') as { version: string };
  if (version !== PATCHED_KAFKAJS_VERSION) return { idlePoll: false, crc32c: false };
  return { idlePoll: patchIdlePoll(), crc32c: patchCrc32c() };
}
/* eslint-enable @typescript-eslint/no-require-imports */
