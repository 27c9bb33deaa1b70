import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { parseFeatureSpec, TAG_SLOTS, type FeatureSpec } from '@mmctr/features';

export const INPUT_NAMES = [
  'user_fields',
  'hist_ids',
  'hist_tags',
  'hist_cat',
  'hist_mm',
  'cand_fields',
  'cand_tags',
  'cand_mm',
] as const;

/** Inputs a graph may lack: hist_age came with feature spec fs-2; older exports have no such input. */
export const OPTIONAL_INPUT_NAMES = ['hist_age'] as const;

export interface SessionSettings {
  /** Graph file inside the artifact folder. */
  modelFile: string;
  intraOpThreads: number;
  interOpThreads: number;
  allowSpinning: boolean;
  provider: 'cpu' | 'cuda';
  /** Called once when cuda was asked for but the session fell back to cpu. */
  onFallback?: (reason: string) => void;
}

/** An int64 tensor buffer plus an Int32 view of its low words: ids are written without BigInt. */
export class IdBuffer {
  readonly data: BigInt64Array;
  private readonly words: Int32Array;
  constructor(length: number) {
    this.data = new BigInt64Array(length);
    this.words = new Int32Array(this.data.buffer);
  }
  /** ids are >= 0 and < 2^31, so the high word stays 0 (little-endian). */
  set(i: number, id: number): void {
    this.words[i << 1] = id;
  }
  fill(id: number, from: number, to: number): void {
    for (let i = from; i < to; i++) this.words[i << 1] = id;
  }
}

/** Input buffers for one request, sized for the largest allowed batch; reused across requests. */
export class InputBuffers {
  readonly userFields: IdBuffer;
  readonly histIds: IdBuffer;
  readonly histTags: IdBuffer;
  readonly histCat: IdBuffer;
  readonly histMm: Float32Array;
  readonly histAge: IdBuffer;
  readonly candFields: IdBuffer;
  readonly candTags: IdBuffer;
  readonly candMm: Float32Array;

  constructor(
    readonly dims: ModelDims,
    readonly capacity: number,
    /** Whether the graph takes hist_age (always filled; fed only then). */
    readonly feedsAge = false,
  ) {
    const { U, L, C, D } = dims;
    this.userFields = new IdBuffer(U);
    this.histIds = new IdBuffer(L);
    this.histTags = new IdBuffer(L * TAG_SLOTS);
    this.histCat = new IdBuffer(L);
    this.histMm = new Float32Array(L * D);
    this.histAge = new IdBuffer(L);
    this.candFields = new IdBuffer(capacity * C);
    this.candTags = new IdBuffer(capacity * TAG_SLOTS);
    this.candMm = new Float32Array(capacity * D);
  }

  /** Tensors over the first `batch` candidate rows (views, no copies). */
  feeds(batch: number): Record<string, ort.Tensor> {
    const { U, L, C, D } = this.dims;
    const feeds: Record<string, ort.Tensor> = {
      user_fields: new ort.Tensor('int64', this.userFields.data, [1, U]),
      hist_ids: new ort.Tensor('int64', this.histIds.data, [1, L]),
      hist_tags: new ort.Tensor('int64', this.histTags.data, [1, L, TAG_SLOTS]),
      hist_cat: new ort.Tensor('int64', this.histCat.data, [1, L]),
      hist_mm: new ort.Tensor('float32', this.histMm, [1, L, D]),
      cand_fields: new ort.Tensor('int64', this.candFields.data.subarray(0, batch * C), [batch, C]),
      cand_tags: new ort.Tensor('int64', this.candTags.data.subarray(0, batch * TAG_SLOTS), [
        batch,
        TAG_SLOTS,
      ]),
      cand_mm: new ort.Tensor('float32', this.candMm.subarray(0, batch * D), [batch, D]),
    };
    if (this.feedsAge) feeds.hist_age = new ort.Tensor('int64', this.histAge.data, [1, L]);
    return feeds;
  }
}

export interface ModelDims {
  U: number;
  L: number;
  C: number;
  D: number;
}

async function createSession(path: string, s: SessionSettings): Promise<ort.InferenceSession> {
  const base: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: s.intraOpThreads,
    interOpNumThreads: s.interOpThreads,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    extra: { session: { intra_op: { allow_spinning: s.allowSpinning ? '1' : '0' } } },
  };
  if (s.provider === 'cuda') {
    try {
      return await ort.InferenceSession.create(path, { ...base, executionProviders: ['cuda'] });
    } catch (err) {
      s.onFallback?.((err as Error).message);
    }
  }
  return ort.InferenceSession.create(path, { ...base, executionProviders: ['cpu'] });
}

/**
 * One model version: its onnxruntime session, feature spec and a pool of preallocated input buffers.
 * Counts requests in flight so a retired version is released only after the last one finishes.
 */
export class OnnxModel {
  private inFlight = 0;
  private retired = false;
  private released = false;
  private readonly pool: InputBuffers[] = [];
  readonly dims: ModelDims;

  private constructor(
    readonly version: string,
    readonly dir: string,
    readonly spec: FeatureSpec,
    private readonly session: ort.InferenceSession,
    readonly capacity: number,
    /** The graph takes hist_age (fs-2 exports); fs-1 ones don't. */
    readonly takesAge: boolean,
  ) {
    this.dims = {
      U: spec.user_fields.length,
      L: spec.history.length,
      C: spec.candidate_fields.length,
      D: spec.multimodal.dim,
    };
  }

  /** Loads `dir/<modelFile>` + `dir/feature_spec.json`, checks the signature and warms the session. */
  static async load(
    version: string,
    dir: string,
    capacity: number,
    settings: SessionSettings,
  ): Promise<OnnxModel> {
    const spec = parseFeatureSpec(JSON.parse(await readFile(join(dir, 'feature_spec.json'), 'utf8')));
    const session = await createSession(join(dir, settings.modelFile), settings);
    try {
      const missing = INPUT_NAMES.filter((n) => !session.inputNames.includes(n));
      if (missing.length > 0) throw new Error(`model ${version} lacks inputs ${missing.join(', ')}`);
      const known: readonly string[] = [...INPUT_NAMES, ...OPTIONAL_INPUT_NAMES];
      const unknown = session.inputNames.filter((n) => !known.includes(n));
      if (unknown.length > 0) throw new Error(`model ${version} has unknown inputs ${unknown.join(', ')}`);
      const takesAge = session.inputNames.includes('hist_age');
      // Without history.age in the spec every age would be fed as 0: refuse rather than mis-score.
      if (takesAge && !spec.history.age) {
        throw new Error(`model ${version} takes hist_age but its feature spec has no history.age`);
      }
      if (!session.outputNames.includes('ctr')) throw new Error(`model ${version} has no output ctr`);
      const model = new OnnxModel(version, dir, spec, session, capacity, takesAge);
      await model.warm();
      return model;
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /** A couple of runs at small and full batch so the first real request pays no first-run costs. */
  private async warm(): Promise<void> {
    const buffers = this.acquireBuffers();
    try {
      for (const batch of [1, Math.min(this.capacity, 256)]) {
        const out = await this.run(buffers, batch);
        if (out.length !== batch || !out.every(Number.isFinite)) {
          throw new Error(
            `model ${this.version} returned ${out.length} values for batch ${batch}, or non-finite ones`,
          );
        }
      }
    } finally {
      this.releaseBuffers(buffers);
    }
  }

  acquireBuffers(): InputBuffers {
    return this.pool.pop() ?? new InputBuffers(this.dims, this.capacity, this.takesAge);
  }

  releaseBuffers(b: InputBuffers): void {
    if (this.pool.length < 16) this.pool.push(b);
  }

  /** CTRs of the first `batch` candidates in `buffers` (a copy, safe to keep). */
  async run(buffers: InputBuffers, batch: number): Promise<Float32Array> {
    const out = await this.session.run(buffers.feeds(batch));
    const ctr = out.ctr;
    if (!ctr) throw new Error(`model ${this.version} returned no ctr`);
    return Float32Array.from(ctr.data as Float32Array);
  }

  /** Marks a request in flight; call the returned function when it is done. */
  enter(): () => void {
    this.inFlight++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight--;
      if (this.retired && this.inFlight === 0) void this.release();
    };
  }

  /** No new requests reach a retired model; it is released once the last in-flight one ends. */
  retire(): void {
    this.retired = true;
    if (this.inFlight === 0) void this.release();
  }

  private async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release().catch(() => undefined);
  }
}
