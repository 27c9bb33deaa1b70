// Feature hashing shared with the Python trainer (apps/trainer/mmctr_trainer/features.py):
// bucket(field, value, buckets) = 1 + (fnv1a64(utf8(field + '\x1f' + value)) mod (buckets - 1)),
// 0 reserved for padding / missing (an empty value maps to 0). Checked against golden/hash-vectors.json.

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;
export const SEPARATOR = '\x1f';

const encoder = new TextEncoder();

/** 64-bit FNV-1a of a byte string. */
export function fnv1a64(bytes: Uint8Array): bigint {
  // Two 32-bit halves keep the loop in plain numbers; the multiply by the 64-bit prime
  // (2^40 + 0x1b3) is split into its low and high parts.
  let lo = 0x84222325;
  let hi = 0xcbf29ce4;
  for (let i = 0; i < bytes.length; i++) {
    lo = (lo ^ bytes[i]!) >>> 0;
    // (hi:lo) * 0x1b3
    const loMul = lo * 0x1b3;
    const carry = Math.floor(loMul / 0x100000000);
    let newHi = (hi * 0x1b3 + carry) >>> 0;
    const newLo = loMul >>> 0;
    // + (lo << 40) mod 2^64, i.e. hi += lo << 8
    newHi = (newHi + ((lo << 8) >>> 0)) >>> 0;
    hi = newHi;
    lo = newLo;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Reference implementation on BigInt (slow; used by the tests to cross-check fnv1a64). */
export function fnv1a64Reference(bytes: Uint8Array): bigint {
  let h = FNV_OFFSET;
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * FNV_PRIME) & MASK64;
  }
  return h;
}

/** Hash bucket of a categorical value in [1, buckets - 1]; 0 for an empty value. */
export function bucket(field: string, value: string | null | undefined, buckets: number): number {
  if (!Number.isSafeInteger(buckets) || buckets < 2) {
    throw new RangeError(`buckets must be an integer >= 2, got ${buckets}`);
  }
  if (value === undefined || value === null || value === '') return 0;
  const h = fnv1a64(encoder.encode(field + SEPARATOR + value));
  return 1 + Number(h % BigInt(buckets - 1));
}
