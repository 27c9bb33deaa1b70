import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import type { LayoutInput, ServingLayout } from '../layout/serving-layout';
import type { InferencePool } from './inference-pool';
import { MicroBatcher, type MicroBatchOptions } from './micro-batcher';
import { LocalGraphs, type GraphSettings, type ModelGraphs, type RunInput, tensorsOf } from './model-graphs';
import { PooledGraphs } from './pooled-graphs';
import { ModelVocabularies } from './vocabularies';

export interface SessionSettings extends GraphSettings {
  /** Graph file inside the artifact folder. */
  modelFile: string;
  /** Run the graphs in this pool's threads instead of on the request loop (SCORER_INFERENCE_WORKERS). */
  pool?: InferencePool;
  /** Called when cuda was asked for but the session fell back to cpu. */
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
  /** `length` ids, or over `buffer` (a set of buffers handed back by an inference thread). */
  constructor(length: number, buffer?: ArrayBuffer) {
    this.data = buffer ? new BigInt64Array(buffer, 0, length) : new BigInt64Array(length);
    this.words = new Int32Array(this.data.buffer, 0, length * 2);
  }
  /** ids are >= 0 and < 2^31, so the high word stays 0 (little-endian). */
  set(i: number, id: number): void {
    this.words[i << 1] = id;
  }
  get(i: number): number {
    return this.words[i << 1]!;
  }
  fill(id: number, from: number, to: number): void {
    for (let i = from; i < to; i++) this.words[i << 1] = id;
  }
}

/** One layout input's buffer: int64 ids or float32 values, `capacity` candidate rows or one request row. */
export type InputData = IdBuffer | Float32Array;

/** The flat values of an input buffer (the tensor's data). */
export const dataOf = (d: InputData): BigInt64Array | Float32Array => (d instanceof IdBuffer ? d.data : d);

/**
 * Input buffers for one request, one per layout input in layout order, sized for the largest allowed
 * batch; reused across requests.
 */
export class InputBuffers {
  readonly data: InputData[];

  constructor(
    readonly inputs: readonly LayoutInput[],
    readonly capacity: number,
  ) {
    this.data = inputs.map((i) => {
      const size = i.rowSize * (i.side === 'candidate' ? capacity : 1);
      return i.dtype === 'int64' ? new IdBuffer(size) : new Float32Array(size);
    });
  }

  /** The input's ids (the assembler's layout fixes which inputs are int64). */
  ids(index: number): IdBuffer {
    return this.data[index] as IdBuffer;
  }

  values(index: number): Float32Array {
    return this.data[index] as Float32Array;
  }

  /** Tensors over the first `batch` candidate rows (views, no copies). */
  feeds(batch: number): Record<string, ort.Tensor> {
    return tensorsOf(this.runInputs(batch));
  }

  /** The first `batch` candidate rows of each input (views, no copies). */
  runInputs(batch: number): RunInput[] {
    return this.inputs.map((input, k) => {
      const rows = input.side === 'candidate' ? batch : 1;
      const data = dataOf(this.data[k]!).subarray(0, rows * input.rowSize);
      return { name: input.name, dtype: input.dtype, dims: [rows, ...input.rowShape], data };
    });
  }

  /** The buffers behind the inputs, in layout order (transferred to an inference thread and back). */
  get buffers(): ArrayBuffer[] {
    return this.data.map((d) => dataOf(d).buffer as ArrayBuffer);
  }

  /** Takes the buffers back after a transfer (the arrays over the sent ones are detached). */
  adopt(buffers: readonly ArrayBuffer[]): void {
    buffers.forEach((b, k) => {
      const ids = this.data[k] instanceof IdBuffer;
      this.data[k] = ids ? new IdBuffer(b.byteLength / 8, b) : new Float32Array(b);
    });
  }

  /** Whether the buffers are usable (false while, or after a failure when, an inference thread holds them). */
  get usable(): boolean {
    return this.data.every((d) => dataOf(d).buffer.byteLength > 0);
  }
}

/** The graph's inputs against the layout's: the first mismatch, naming the input, or undefined. */
export function signatureMismatch(
  metadata: readonly ort.InferenceSession.ValueMetadata[],
  inputs: readonly LayoutInput[],
): string | undefined {
  const names = metadata.map((m) => m.name);
  const missing = inputs.find((i) => !names.includes(i.name));
  if (missing) return `lacks input ${missing.name} (${describeInput(missing)})`;
  const extra = names.find((n) => !inputs.some((i) => i.name === n));
  if (extra) return `has input ${extra}, which the feature repository's layout does not feed`;
  for (const i of inputs) {
    const m = metadata.find((x) => x.name === i.name)!;
    const got = m.isTensor ? `${m.type} [${m.shape.join(', ')}]` : 'a non-tensor';
    const dimsMatch =
      m.isTensor &&
      m.shape.length === i.shape.length &&
      i.rowShape.every((d, k) => typeof m.shape[k + 1] !== 'number' || m.shape[k + 1] === d);
    if (!m.isTensor || m.type !== i.dtype || !dimsMatch)
      return `input ${i.name} is ${got}; the layout feeds ${describeInput(i)}`;
  }
  if (names.join() !== inputs.map((i) => i.name).join())
    return `takes its inputs in the order ${names.join(', ')}; the layout's order is ${inputs.map((i) => i.name).join(', ')}`;
  return undefined;
}

const describeInput = (i: LayoutInput): string => `${i.dtype} [${i.shape.join(', ')}]`;

/** The first path where two JSON values differ ('' when equal). */
export function firstDifference(a: unknown, b: unknown, path = ''): string | undefined {
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null)
    return a === b ? undefined : path;
  if (Array.isArray(a) !== Array.isArray(b)) return path;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  for (const k of keys) {
    const at = Array.isArray(a) ? `${path}[${k}]` : path ? `${path}.${k}` : k;
    const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], at);
    if (d !== undefined) return d;
  }
  return undefined;
}

/**
 * An artifact's layout.json (the layout it was trained on) against the running one: the same graph
 * signature with other encodings (bucket counts, vocabularies, clips) would be served wrong ids. Artifacts
 * without one are checked by their signature alone. The repository block (name, version) may differ.
 */
async function artifactLayoutMismatch(dir: string, layout: ServingLayout): Promise<string | undefined> {
  const file = join(dir, 'layout.json');
  if (!existsSync(file)) return undefined;
  const { repository: _trained, ...trained } = JSON.parse(await readFile(file, 'utf8')) as Record<
    string,
    unknown
  >;
  const { repository: _running, ...running } = layout.layout;
  const at = firstDifference(trained, JSON.parse(JSON.stringify(running)));
  return at === undefined
    ? undefined
    : `was trained for another layout: layout.json differs from feature repository ${layout.repo.name} ${layout.version} at ${at}`;
}

/**
 * One model version: its graphs (onnxruntime sessions here or in the inference pool's threads), the
 * serving layout its inputs follow and a pool of preallocated input buffers.
 * Counts requests in flight so a retired version is released only after the last one finishes.
 */
export class OnnxModel {
  private inFlight = 0;
  private retired = false;
  private released = false;
  private readonly pool: InputBuffers[] = [];
  private readonly batcher: MicroBatcher<BatchJob> | undefined;

  private constructor(
    readonly version: string,
    readonly dir: string,
    readonly layout: ServingLayout,
    private readonly graphs: ModelGraphs,
    readonly capacity: number,
    microBatch?: SessionSettings['microBatch'],
    /** The fitted features' value id -> vocabulary row maps (undefined when the layout fits none). */
    readonly vocabularies?: ModelVocabularies,
  ) {
    if (graphs.batch && microBatch)
      this.batcher = new MicroBatcher<BatchJob>(
        microBatch,
        (job) => this.runServing(job.buffers, job.batch),
        (jobs) => this.runTogether(jobs),
        microBatch.onFlush,
      );
  }

  /** Whether concurrent requests share runs (micro-batching on and the artifact has a batch graph). */
  get microBatching(): boolean {
    return this.batcher !== undefined;
  }

  /**
   * Loads `dir/<modelFile>`, checks its inputs against the running repository's layout (a model exported
   * for another layout is refused, naming the first mismatching input) and warms the session.
   */
  static async load(
    version: string,
    dir: string,
    capacity: number,
    settings: SessionSettings,
    layout: ServingLayout,
    warmUp?: WarmUp,
  ): Promise<OnnxModel> {
    const trainedFor = await artifactLayoutMismatch(dir, layout);
    if (trainedFor) throw new Error(`model ${version} ${trainedFor}`);
    const vocabularies = await ModelVocabularies.load(dir, layout).catch((err: Error) => {
      throw new Error(`model ${version}: ${err.message}`);
    });
    let batchFile: string | undefined;
    if (settings.microBatch) {
      batchFile = batchGraphName(settings.modelFile);
      if (!existsSync(join(dir, batchFile))) {
        settings.microBatch.onUnavailable?.(`model ${version} has no ${batchFile}`);
        batchFile = undefined;
      }
    }
    const servingPath = join(dir, settings.modelFile);
    const batchPath = batchFile && join(dir, batchFile);
    const graphs = settings.pool
      ? await PooledGraphs.open(settings.pool, version, servingPath, batchPath, settings)
      : await LocalGraphs.open(version, servingPath, batchPath, settings, settings.onFallback);
    try {
      const serving = graphs.serving;
      const mismatch = signatureMismatch(serving.inputMetadata, layout.inputs);
      if (mismatch)
        throw new Error(
          `model ${version} ${mismatch} (feature repository ${layout.repo.name} ${layout.version})`,
        );
      if (!serving.outputNames.includes('ctr')) throw new Error(`model ${version} has no output ctr`);
      const batch = graphs.batch;
      const want = [...serving.inputNames, CANDIDATE_USER_INPUT];
      if (batch && (want.join() !== batch.inputNames.join() || !batch.outputNames.includes('ctr')))
        throw new Error(
          `model ${version}: ${batchFile} takes ${batch.inputNames.join(', ')}; expected ${want.join(', ')} -> ctr`,
        );
      const model = new OnnxModel(version, dir, layout, graphs, capacity, settings.microBatch, vocabularies);
      await model.warm();
      await warmUp?.(model);
      return model;
    } catch (err) {
      await graphs.release();
      throw err;
    }
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
      // Every thread of the pool warms its own sessions.
      for (let thread = 0; thread < this.graphs.threads; thread++) {
        for (const batch of [1, Math.min(this.capacity, 256)]) {
          const inputs = buffers.runInputs(batch);
          check(await this.graphs.run('serving', inputs, (b) => buffers.adopt(b), thread), batch);
          if (this.graphs.batch) {
            const jobs = [
              { buffers, batch },
              { buffers, batch },
            ];
            const stacked = stackInputs(jobs, this.layout.inputs);
            check(await this.graphs.run('batch', stacked, undefined, thread), 2 * batch);
          }
        }
      }
    } finally {
      this.releaseBuffers(buffers);
    }
  }

  acquireBuffers(): InputBuffers {
    return this.pool.pop() ?? new InputBuffers(this.layout.inputs, this.capacity);
  }

  releaseBuffers(b: InputBuffers): void {
    // A set an inference thread did not give back (it failed mid-run) is dropped.
    if (this.pool.length < 16 && b.usable) this.pool.push(b);
  }

  /**
   * CTRs of the first `batch` candidates in `buffers` (a copy, safe to keep). With micro-batching the
   * run may be shared with concurrent requests.
   */
  run(buffers: InputBuffers, batch: number): Promise<Float32Array> {
    this.vocabularies?.rows(buffers, batch); // value ids -> this model's vocabulary rows
    return this.batcher ? this.batcher.run({ buffers, batch }) : this.runServing(buffers, batch);
  }

  /**
   * One run of the ordinary graph, never through the batcher (warm-up: not a request, not counted); the
   * buffers hold value ids, as the assembler writes them.
   */
  runAlone(buffers: InputBuffers, batch: number): Promise<Float32Array> {
    this.vocabularies?.rows(buffers, batch);
    return this.runServing(buffers, batch);
  }

  /** The ordinary graph on buffers already holding this model's ids (vocabulary rows). */
  private runServing(buffers: InputBuffers, batch: number): Promise<Float32Array> {
    // With the pool the buffers travel to its thread and back (transferred, not copied).
    return this.graphs.run('serving', buffers.runInputs(batch), (back) => buffers.adopt(back));
  }

  /** Several requests in one run of the batch graph: users stacked, candidates concatenated. */
  private runTogether(jobs: BatchJob[]): Promise<Float32Array> {
    return this.graphs.run('batch', stackInputs(jobs, this.layout.inputs));
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
    await this.graphs.release();
  }
}

/**
 * The batch graph's inputs: N requests' request-side rows stacked (one row each), their candidate rows
 * concatenated, plus each candidate's request row (cand_user). Fresh arrays (an inference thread may
 * take them).
 */
export function stackInputs(jobs: BatchJob[], inputs: readonly LayoutInput[]): RunInput[] {
  const n = jobs.length;
  const total = jobs.reduce((a, j) => a + j.batch, 0);
  const out: RunInput[] = inputs.map((input, k) => {
    const perJob = (j: BatchJob) => (input.side === 'candidate' ? j.batch : 1) * input.rowSize;
    const rows = input.side === 'candidate' ? total : n;
    const size = rows * input.rowSize;
    const data = input.dtype === 'int64' ? new BigInt64Array(size) : new Float32Array(size);
    let offset = 0;
    for (const j of jobs) {
      const part = dataOf(j.buffers.data[k]!).subarray(0, perJob(j));
      if (data instanceof BigInt64Array) data.set(part as BigInt64Array, offset);
      else data.set(part as Float32Array, offset);
      offset += perJob(j);
    }
    return { name: input.name, dtype: input.dtype, dims: [rows, ...input.rowShape], data };
  });
  const candUser = new IdBuffer(total);
  let offset = 0;
  jobs.forEach((j, i) => {
    candUser.fill(i, offset, offset + j.batch);
    offset += j.batch;
  });
  out.push({ name: CANDIDATE_USER_INPUT, dtype: 'int64', dims: [total], data: candUser.data });
  return out;
}

/** stackInputs as onnxruntime tensors. */
export const stackFeeds = (jobs: BatchJob[], inputs: readonly LayoutInput[]): Record<string, ort.Tensor> =>
  tensorsOf(stackInputs(jobs, inputs));
