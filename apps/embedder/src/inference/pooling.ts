/**
 * Mean of each row's token vectors over its attention mask: hidden is [batch, tokens, dim] row-major,
 * mask is [batch, tokens] (1 = real token). A row without any real token pools to zeros.
 */
export function meanPool(
  hidden: Float32Array,
  mask: ArrayLike<number | bigint>,
  batch: number,
  tokens: number,
  dim: number,
): Float32Array[] {
  if (hidden.length !== batch * tokens * dim) throw new Error('meanPool: hidden has the wrong size');
  if (mask.length !== batch * tokens) throw new Error('meanPool: mask has the wrong size');
  const out: Float32Array[] = [];
  for (let b = 0; b < batch; b++) {
    const acc = new Float64Array(dim);
    let n = 0;
    for (let t = 0; t < tokens; t++) {
      if (Number(mask[b * tokens + t]) === 0) continue;
      n++;
      const base = (b * tokens + t) * dim;
      for (let d = 0; d < dim; d++) acc[d]! += hidden[base + d]!;
    }
    const row = new Float32Array(dim);
    if (n > 0) for (let d = 0; d < dim; d++) row[d] = acc[d]! / n;
    out.push(row);
  }
  return out;
}

/** Scales v to unit length in place (a zero vector stays zero); returns it. */
export function l2Normalize<T extends Float32Array | Float64Array>(v: T): T {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  if (s > 0) {
    const inv = 1 / Math.sqrt(s);
    for (let i = 0; i < v.length; i++) v[i]! *= inv;
  }
  return v;
}
