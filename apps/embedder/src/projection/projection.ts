import { createHash } from 'node:crypto';
import { fitPca } from './pca';

/** A stored projection: what it was fitted on and how to apply it. Vectors are base64 float32 LE. */
export interface ProjectionArtifact {
  version: string;
  kind: 'pca';
  dim: number;
  created_at: string;
  created_ms: number;
  /** The encoder ids (item_embeddings.image_encoder / text_encoder) whose vectors it projects. */
  encoders: { image: string; text: string };
  /** Input = [w_image * image_vec ; w_text * text_vec] (both unit vectors, so equal say by default). */
  blocks: { image: { dim: number; weight: number }; text: { dim: number; weight: number } };
  fitted_on: { items: number; iterations: number; explained_variance_ratio: number };
  variances: number[];
  mean: string;
  /** dim x (image.dim + text.dim), row-major. */
  components: string;
}

const toB64 = (a: ArrayLike<number>) => Buffer.from(Float32Array.from(a).buffer).toString('base64');
function fromB64(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export class Projection {
  private readonly mean: Float32Array;
  private readonly components: Float32Array;
  readonly inputDim: number;

  constructor(readonly artifact: ProjectionArtifact) {
    this.mean = fromB64(artifact.mean);
    this.components = fromB64(artifact.components);
    this.inputDim = artifact.blocks.image.dim + artifact.blocks.text.dim;
    if (this.mean.length !== this.inputDim || this.components.length !== artifact.dim * this.inputDim)
      throw new Error(`projection ${artifact.version}: arrays do not match its dimensions`);
  }

  get version(): string {
    return this.artifact.version;
  }

  /**
   * The fused vector. A missing modality (null or empty) takes the catalogue mean of its block, so it
   * adds nothing after centring.
   */
  project(image: Float32Array | null, text: Float32Array | null): Float32Array {
    const x = centredInput(this.artifact, this.mean, image, text);
    const { dim } = this.artifact;
    const d = this.inputDim;
    const out = new Float32Array(dim);
    for (let k = 0; k < dim; k++) {
      let s = 0;
      const base = k * d;
      for (let j = 0; j < d; j++) s += this.components[base + j]! * x[j]!;
      out[k] = s;
    }
    return out;
  }
}

function centredInput(
  a: Pick<ProjectionArtifact, 'blocks'>,
  mean: ArrayLike<number>,
  image: Float32Array | null,
  text: Float32Array | null,
): Float64Array {
  const { image: ib, text: tb } = a.blocks;
  const x = new Float64Array(ib.dim + tb.dim);
  if (image && image.length > 0) {
    if (image.length !== ib.dim) throw new Error(`image vector has ${image.length} dims, expected ${ib.dim}`);
    for (let j = 0; j < ib.dim; j++) x[j] = ib.weight * image[j]! - mean[j]!;
  }
  if (text && text.length > 0) {
    if (text.length !== tb.dim) throw new Error(`text vector has ${text.length} dims, expected ${tb.dim}`);
    for (let j = 0; j < tb.dim; j++) x[ib.dim + j] = tb.weight * text[j]! - mean[ib.dim + j]!;
  }
  return x;
}

export interface FitInput {
  image: Float32Array | null;
  text: Float32Array | null;
}

/**
 * Fits a PCA projection on the catalogue's vectors. Items missing a modality take the mean of the
 * items that have it, so they do not pull the components.
 */
export function fitProjection(
  items: readonly FitInput[],
  opts: {
    dim: number;
    encoders: { image: string; text: string };
    imageDim: number;
    textDim: number;
    now?: Date;
  },
): ProjectionArtifact {
  const w = Math.SQRT1_2;
  const blocks = { image: { dim: opts.imageDim, weight: w }, text: { dim: opts.textDim, weight: w } };
  const d = opts.imageDim + opts.textDim;
  // Block means over the items that have each modality.
  const fill = new Float64Array(d);
  const counts = [0, 0];
  for (const it of items) {
    if (it.image?.length) {
      counts[0]!++;
      for (let j = 0; j < opts.imageDim; j++) fill[j]! += w * it.image[j]!;
    }
    if (it.text?.length) {
      counts[1]!++;
      for (let j = 0; j < opts.textDim; j++) fill[opts.imageDim + j]! += w * it.text[j]!;
    }
  }
  for (let j = 0; j < d; j++) fill[j]! /= Math.max(1, j < opts.imageDim ? counts[0]! : counts[1]!);
  const rows = items.map((it) => {
    const r = Float64Array.from(fill);
    if (it.image?.length) for (let j = 0; j < opts.imageDim; j++) r[j] = w * it.image[j]!;
    if (it.text?.length) for (let j = 0; j < opts.textDim; j++) r[opts.imageDim + j] = w * it.text[j]!;
    return r;
  });
  const dim = Math.min(opts.dim, d, rows.length - 1);
  const pca = fitPca(rows, d, dim);
  const now = opts.now ?? new Date();
  const mean = toB64(pca.mean);
  const components = toB64(pca.components);
  const hash = createHash('sha256').update(mean).update(components).update(JSON.stringify(opts.encoders));
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const captured = pca.variances.reduce((a, b) => a + b, 0);
  return {
    version: `pca${dim}-${stamp}-${hash.digest('hex').slice(0, 8)}`,
    kind: 'pca',
    dim,
    created_at: now.toISOString(),
    created_ms: now.getTime(),
    encoders: opts.encoders,
    blocks,
    fitted_on: {
      items: rows.length,
      iterations: pca.iterations,
      explained_variance_ratio: pca.totalVariance > 0 ? captured / pca.totalVariance : 0,
    },
    variances: pca.variances,
    mean,
    components,
  };
}
