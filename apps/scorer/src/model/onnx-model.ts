import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { parseFeatureSpec, TAG_SLOTS, type FeatureSpec } from '@mmctr/features';
import { MicroBatcher, type MicroBatchOptions } from './micro-batcher';

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
  /** Micro-batching across concurrent requests, with the artifact's batch graph (batchGraphName). */
  microBatch?: MicroBatchOptions & {
    onFlush?: (requests: number, candidates: number) => void;
    /** The artifact has no batch graph: the version serves without micro-batching. */
    onUnavailable?: (reason: string) => void;
  };
}

/** A model answered a non-finite CTR (NaN or ±Infinity): it must not serve. */
export class NonFiniteOutputError extends Error {}

/** Throws NonFiniteOutputError unless `out` holds `batch` finite values. */
export function checkOutput(version: string, out: Float32Array, batch: number, what: string): void {
  if (out.length !== batch)
    throw new Error(`model ${version} returned ${out.length} values for ${batch} ${what}`);
  const bad = out.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    throw new NonFiniteOutputError(
      `model ${version} returned ${out[bad]} for row ${bad} of ${batch} ${what}`,
    );
  }
}

/** Extra warm-up after the synthetic runs (e.g. real items); throws to refuse the model. */
export type WarmUp = (model: OnnxModel) => Promise<void>;

/** The trainer's micro-batching graph next to a serving graph: model.onnx -> model.batch.onnx. */
export const batchGraphName = (graphFile: string): string => graphFile.replace(/\.onnx$/, '.batch.onnx');

/** The batch graph's extra input: each candidate's row in the user-level inputs. */
export const CANDIDATE_USER_INPUT = 'cand_user';

interface BatchJob {
  buffers: InputBuffers;
  batch: number;
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
  private readonly batcher: MicroBatcher<BatchJob> | undefined;
  readonly dims: ModelDims;

  private constructor(
    readonly version: string,
    readonly dir: string,
    readonly spec: FeatureSpec,
    private readonly session: ort.InferenceSession,
    readonly capacity: number,
    /** The graph takes hist_age (fs-2 exports); fs-1 ones don't. */
    readonly takesAge: boolean,
    private readonly batchSession?: ort.InferenceSession,
    microBatch?: SessionSettings['microBatch'],
  ) {
    this.dims = {
      U: spec.user_fields.length,
      L: spec.history.length,
      C: spec.candidate_fields.length,
      D: spec.multimodal.dim,
    };
    if (batchSession && microBatch)
      this.batcher = new MicroBatcher<BatchJob>(
        microBatch,
        (job) => this.runAlone(job.buffers, job.batch),
        (jobs) => this.runTogether(jobs),
        microBatch.onFlush,
      );
  }

  /** Whether concurrent requests share runs (micro-batching on and the artifact has a batch graph). */
  get microBatching(): boolean {
    return this.batcher !== undefined;
  }

  /** Loads `dir/<modelFile>` + `dir/feature_spec.json`, checks the signature and warms the session. */
  static async load(
    version: string,
    dir: string,
    capacity: number,
    settings: SessionSettings,
    warmUp?: WarmUp,
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
      const batchSession = settings.microBatch
        ? await OnnxModel.loadBatchGraph(version, dir, session, settings)
        : undefined;
      const model = new OnnxModel(
        version,
        dir,
        spec,
        session,
        capacity,
        takesAge,
        batchSession,
        settings.microBatch,
      );
      try {
        await model.warm();
        await warmUp?.(model);
      } catch (err) {
        await batchSession?.release();
        throw err;
      }
      return model;
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /** The batch graph, checked against the serving graph's inputs; undefined if the artifact has none. */
  private static async loadBatchGraph(
    version: string,
    dir: string,
    serving: ort.InferenceSession,
    settings: SessionSettings,
  ): Promise<ort.InferenceSession | undefined> {
    const file = batchGraphName(settings.modelFile);
    if (!existsSync(join(dir, file))) {
      settings.microBatch?.onUnavailable?.(`model ${version} has no ${file}`);
      return undefined;
    }
    const session = await createSession(join(dir, file), settings);
    const want = [...serving.inputNames, CANDIDATE_USER_INPUT];
    if (want.join() !== session.inputNames.join() || !session.outputNames.includes('ctr')) {
      await session.release();
      throw new Error(
        `model ${version}: ${file} takes ${session.inputNames.join(', ')}; expected ${want.join(', ')} -> ctr`,
      );
    }
    return session;
  }

  /**
   * A couple of runs on synthetic inputs (all-zero ids and vectors) at small and full batch so the
   * first real request pays no first-run costs.
   */
  private async warm(): Promise<void> {
    const buffers = this.acquireBuffers();
    try {
      const check = (out: Float32Array, batch: number): void =>
        checkOutput(this.version, out, batch, 'synthetic warm-up candidates');
      for (const batch of [1, Math.min(this.capacity, 256)]) {
        check(await this.runAlone(buffers, batch), batch);
        if (this.batchSession) {
          const jobs = [
            { buffers, batch },
            { buffers, batch },
          ];
          check(await this.runTogether(jobs), 2 * batch);
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

  /**
   * CTRs of the first `batch` candidates in `buffers` (a copy, safe to keep). With micro-batching the
   * run may be shared with concurrent requests.
   */
  run(buffers: InputBuffers, batch: number): Promise<Float32Array> {
    return this.batcher ? this.batcher.run({ buffers, batch }) : this.runAlone(buffers, batch);
  }

  /** One run of the ordinary graph, never through the batcher (warm-up: not a request, not counted). */
  async runAlone(buffers: InputBuffers, batch: number): Promise<Float32Array> {
    return this.ctrOf(await this.session.run(buffers.feeds(batch)));
  }

  /** Several requests in one run of the batch graph: users stacked, candidates concatenated. */
  private async runTogether(jobs: BatchJob[]): Promise<Float32Array> {
    const session = this.batchSession;
    if (!session) throw new Error(`model ${this.version} has no batch graph`);
    return this.ctrOf(await session.run(stackFeeds(jobs, this.dims, this.takesAge)));
  }

  private ctrOf(out: ort.InferenceSession.OnnxValueMapType): Float32Array {
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
    await this.batchSession?.release().catch(() => undefined);
  }
}

/** Copies the first `length` values of each part into `out`, one after another. */
function joinRows(out: BigInt64Array, parts: Array<[BigInt64Array, number]>): BigInt64Array;
function joinRows(out: Float32Array, parts: Array<[Float32Array, number]>): Float32Array;
function joinRows(
  out: BigInt64Array | Float32Array,
  parts: Array<[BigInt64Array | Float32Array, number]>,
): BigInt64Array | Float32Array {
  let offset = 0;
  for (const [part, length] of parts) {
    if (out instanceof Float32Array && part instanceof Float32Array)
      out.set(part.subarray(0, length), offset);
    else if (out instanceof BigInt64Array && part instanceof BigInt64Array)
      out.set(part.subarray(0, length), offset);
    offset += length;
  }
  return out;
}

/** InputBuffers' id buffers. */
type IdBufferName = {
  [K in keyof InputBuffers]: InputBuffers[K] extends IdBuffer ? K : never;
}[keyof InputBuffers];

/** The batch graph's feeds: N requests' user-level rows stacked, their candidates concatenated. */
export function stackFeeds(jobs: BatchJob[], dims: ModelDims, withAge: boolean): Record<string, ort.Tensor> {
  const { U, L, C, D } = dims;
  const n = jobs.length;
  const total = jobs.reduce((a, j) => a + j.batch, 0);
  const users = (key: IdBufferName, width: number) =>
    joinRows(
      new BigInt64Array(n * width),
      jobs.map((j) => [j.buffers[key].data, width]),
    );
  const candidates = (key: IdBufferName, width: number) =>
    joinRows(
      new BigInt64Array(total * width),
      jobs.map((j) => [j.buffers[key].data, j.batch * width]),
    );
  const histMm = joinRows(
    new Float32Array(n * L * D),
    jobs.map((j) => [j.buffers.histMm, L * D]),
  );
  const candMm = joinRows(
    new Float32Array(total * D),
    jobs.map((j) => [j.buffers.candMm, j.batch * D]),
  );
  const candUser = new IdBuffer(total);
  let offset = 0;
  jobs.forEach((j, i) => {
    candUser.fill(i, offset, offset + j.batch);
    offset += j.batch;
  });
  const int64 = (data: BigInt64Array, shape: number[]) => new ort.Tensor('int64', data, shape);
  const feeds: Record<string, ort.Tensor> = {
    user_fields: int64(users('userFields', U), [n, U]),
    hist_ids: int64(users('histIds', L), [n, L]),
    hist_tags: int64(users('histTags', L * TAG_SLOTS), [n, L, TAG_SLOTS]),
    hist_cat: int64(users('histCat', L), [n, L]),
    hist_mm: new ort.Tensor('float32', histMm, [n, L, D]),
    cand_fields: int64(candidates('candFields', C), [total, C]),
    cand_tags: int64(candidates('candTags', TAG_SLOTS), [total, TAG_SLOTS]),
    cand_mm: new ort.Tensor('float32', candMm, [total, D]),
    [CANDIDATE_USER_INPUT]: int64(candUser.data, [total]),
  };
  if (withAge) feeds.hist_age = int64(users('histAge', L), [n, L]);
  return feeds;
}
