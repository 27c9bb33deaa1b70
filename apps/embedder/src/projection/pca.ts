import { mulberry32 } from '@mmctr/synth';

/**
 * Principal components by subspace (block power) iteration on the covariance matrix: good enough for
 * a few thousand rows of ~1.7k dims in plain TypeScript, deterministic for a given seed.
 */
export interface PcaResult {
  mean: Float64Array;
  /** k x d, row-major; rows are orthonormal, by decreasing variance. */
  components: Float64Array;
  /** Variance along each component. */
  variances: number[];
  totalVariance: number;
  iterations: number;
}

export function covariance(
  rows: readonly ArrayLike<number>[],
  d: number,
): { mean: Float64Array; cov: Float64Array } {
  const n = rows.length;
  if (n < 2) throw new Error('PCA needs at least two rows');
  const mean = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j]! += r[j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  const cov = new Float64Array(d * d);
  const x = new Float64Array(d);
  for (const r of rows) {
    for (let j = 0; j < d; j++) x[j] = r[j]! - mean[j]!;
    // Upper triangle only; mirrored below.
    for (let a = 0; a < d; a++) {
      const xa = x[a]!;
      if (xa === 0) continue;
      const base = a * d;
      for (let b = a; b < d; b++) cov[base + b]! += xa * x[b]!;
    }
  }
  for (let a = 0; a < d; a++)
    for (let b = a; b < d; b++) {
      const v = cov[a * d + b]! / (n - 1);
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
  return { mean, cov };
}

/** Orthonormalises the k rows of q (k x d) in place: modified Gram-Schmidt, twice (stays orthogonal). */
function orthonormalise(q: Float64Array, k: number, d: number): void {
  gramSchmidt(q, k, d);
  gramSchmidt(q, k, d);
}

function gramSchmidt(q: Float64Array, k: number, d: number): void {
  for (let i = 0; i < k; i++) {
    const qi = q.subarray(i * d, (i + 1) * d);
    for (let j = 0; j < i; j++) {
      const qj = q.subarray(j * d, (j + 1) * d);
      let dot = 0;
      for (let t = 0; t < d; t++) dot += qi[t]! * qj[t]!;
      for (let t = 0; t < d; t++) qi[t]! -= dot * qj[t]!;
    }
    let norm = 0;
    for (let t = 0; t < d; t++) norm += qi[t]! * qi[t]!;
    norm = Math.sqrt(norm) || 1;
    for (let t = 0; t < d; t++) qi[t]! /= norm;
  }
}

/**
 * out_i = C q_i for the m rows of q (C symmetric d x d). Four rows at a time, so each load of C
 * serves four products (plain JS does not vectorise).
 */
function multiplyRows(cov: Float64Array, q: Float64Array, out: Float64Array, m: number, d: number): void {
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const o0 = i * d;
    const o1 = o0 + d;
    const o2 = o1 + d;
    const o3 = o2 + d;
    for (let a = 0; a < d; a++) {
      const base = a * d;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let b = 0; b < d; b++) {
        const c = cov[base + b]!;
        s0 += c * q[o0 + b]!;
        s1 += c * q[o1 + b]!;
        s2 += c * q[o2 + b]!;
        s3 += c * q[o3 + b]!;
      }
      out[o0 + a] = s0;
      out[o1 + a] = s1;
      out[o2 + a] = s2;
      out[o3 + a] = s3;
    }
  }
  for (; i < m; i++) {
    const o = i * d;
    for (let a = 0; a < d; a++) {
      const base = a * d;
      let s = 0;
      for (let b = 0; b < d; b++) s += cov[base + b]! * q[o + b]!;
      out[o + a] = s;
    }
  }
}

/** Small deterministic PRNG (mulberry32, centred on 0) for the starting subspace. */
function rand(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() - 0.5;
}

export function fitPca(
  rows: readonly ArrayLike<number>[],
  d: number,
  k: number,
  opts: { maxIterations?: number; tolerance?: number; seed?: number; oversample?: number } = {},
): PcaResult {
  if (k > d) throw new Error(`PCA: ${k} components from ${d} dimensions`);
  if (k > rows.length - 1)
    throw new Error(`PCA: ${k} components from ${rows.length} rows (at most rows - 1)`);
  const { mean, cov } = covariance(rows, d);
  let totalVariance = 0;
  for (let j = 0; j < d; j++) totalVariance += cov[j * d + j]!;
  const maxIterations = opts.maxIterations ?? 60;
  const tolerance = opts.tolerance ?? 1e-5;
  // A few extra vectors: the top k converge at the rate of the gap to the (k + p)-th eigenvalue.
  const m = Math.min(d, rows.length - 1, k + (opts.oversample ?? 8));
  const next = rand(opts.seed ?? 1);
  let q = new Float64Array(m * d).map(() => next());
  orthonormalise(q, m, d);
  let z = new Float64Array(m * d);
  let iterations = 0;
  let prev = 0;
  while (iterations < maxIterations) {
    iterations++;
    // z_i = C q_i; the captured variance sum_i q_i . z_i comes for free.
    multiplyRows(cov, q, z, m, d);
    let captured = 0;
    for (let i = 0; i < k; i++) for (let a = 0; a < d; a++) captured += q[i * d + a]! * z[i * d + a]!;
    orthonormalise(z, m, d);
    [q, z] = [z, q];
    // Converged when the variance the top k capture stops moving.
    if (iterations > 2 && Math.abs(captured - prev) <= tolerance * Math.max(captured, 1e-12)) break;
    prev = captured;
  }
  // Rayleigh-Ritz: rotate the subspace onto eigenvectors of the small m x m problem, keep the top k.
  const { components, variances } = ritz(cov, q, m, d);
  return {
    mean,
    components: components.slice(0, k * d),
    variances: variances.slice(0, k),
    totalVariance,
    iterations,
  };
}

/** Eigen-decomposes Qᵀ C Q (k x k, Jacobi) and returns the rotated components sorted by variance. */
function ritz(cov: Float64Array, q: Float64Array, k: number, d: number) {
  const cq = new Float64Array(k * d);
  multiplyRows(cov, q, cq, k, d);
  const m = new Float64Array(k * k);
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let a = 0; a < d; a++) s += q[i * d + a]! * cq[j * d + a]!;
      m[i * k + j] = s;
    }
  const { values, vectors } = jacobiEigen(m, k);
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]);
  const components = new Float64Array(k * d);
  order.forEach(([, src], dst) => {
    for (let j = 0; j < k; j++) {
      const w = vectors[j * k + src]!;
      if (w === 0) continue;
      for (let a = 0; a < d; a++) components[dst * d + a]! += w * q[j * d + a]!;
    }
  });
  return { components, variances: order.map(([v]) => v) };
}

/** Cyclic Jacobi for a small symmetric matrix: eigenvalues and column eigenvectors. */
export function jacobiEigen(input: Float64Array, n: number): { values: number[]; vectors: Float64Array } {
  const a = Float64Array.from(input);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let r = 0; r < n; r++) {
          const arp = a[r * n + p]!;
          const arq = a[r * n + q]!;
          a[r * n + p] = c * arp - s * arq;
          a[r * n + q] = s * arp + c * arq;
        }
        for (let r = 0; r < n; r++) {
          const apr = a[p * n + r]!;
          const aqr = a[q * n + r]!;
          a[p * n + r] = c * apr - s * aqr;
          a[q * n + r] = s * apr + c * aqr;
        }
        for (let r = 0; r < n; r++) {
          const vrp = v[r * n + p]!;
          const vrq = v[r * n + q]!;
          v[r * n + p] = c * vrp - s * vrq;
          v[r * n + q] = s * vrp + c * vrq;
        }
      }
  }
  return { values: Array.from({ length: n }, (_, i) => a[i * n + i]!), vectors: v };
}
