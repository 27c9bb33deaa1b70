import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { LayoutInput, ServingLayout } from '../layout/serving-layout';
import { MicroBatcher, type MicroBatchOptions } from './micro-batcher';

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

/** One layout input's buffer: int64 ids or float32 values, `capacity` candidate rows or one request row. */
export type InputData = IdBuffer | Float32Array;

/** The flat values of an input buffer (the tensor's data). */
const dataOf = (d: InputData): BigInt64Array | Float32Array => (d instanceof IdBuffer ? d.data : d);

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
    const feeds: Record<string, ort.Tensor> = {};
    this.inputs.forEach((input, k) => {
      const rows = input.side === 'candidate' ? batch : 1;
      const data = dataOf(this.data[k]!).subarray(0, rows * input.rowSize);
      feeds[input.name] = new ort.Tensor(input.dtype, data, [rows, ...input.rowShape]);
    });
    return feeds;
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
 * One model version: its onnxruntime session, the serving layout its inputs follow and a pool of
 * preallocated input buffers.
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
    private readonly session: ort.InferenceSession,
    readonly capacity: number,
    private readonly batchSession?: ort.InferenceSession,
    microBatch?: SessionSettings['microBatch'],
  ) {
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
    const session = await createSession(join(dir, settings.modelFile), settings);
    try {
      const mismatch = signatureMismatch(session.inputMetadata, layout.inputs);
      if (mismatch)
        throw new Error(
          `model ${version} ${mismatch} (feature repository ${layout.repo.name} ${layout.version})`,
        );
      if (!session.outputNames.includes('ctr')) throw new Error(`model ${version} has no output ctr`);
      const batchSession = settings.microBatch
        ? await OnnxModel.loadBatchGraph(version, dir, session, settings)
        : undefined;
      const model = new OnnxModel(version, dir, layout, session, capacity, batchSession, settings.microBatch);
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
    return this.pool.pop() ?? new InputBuffers(this.layout.inputs, this.capacity);
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
    return this.ctrOf(await session.run(stackFeeds(jobs, this.layout.inputs)));
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

/**
 * The batch graph's feeds: N requests' request-side rows stacked (one row each), their candidate rows
 * concatenated, plus each candidate's request row (cand_user).
 */
export function stackFeeds(jobs: BatchJob[], inputs: readonly LayoutInput[]): Record<string, ort.Tensor> {
  const n = jobs.length;
  const total = jobs.reduce((a, j) => a + j.batch, 0);
  const feeds: Record<string, ort.Tensor> = {};
  inputs.forEach((input, k) => {
    const perJob = (j: BatchJob) => (input.side === 'candidate' ? j.batch : 1) * input.rowSize;
    const rows = input.side === 'candidate' ? total : n;
    const size = rows * input.rowSize;
    const out = input.dtype === 'int64' ? new BigInt64Array(size) : new Float32Array(size);
    let offset = 0;
    for (const j of jobs) {
      const part = dataOf(j.buffers.data[k]!).subarray(0, perJob(j));
      if (out instanceof BigInt64Array) out.set(part as BigInt64Array, offset);
      else out.set(part as Float32Array, offset);
      offset += perJob(j);
    }
    feeds[input.name] = new ort.Tensor(input.dtype, out, [rows, ...input.rowShape]);
  });
  const candUser = new IdBuffer(total);
  let offset = 0;
  jobs.forEach((j, i) => {
    candUser.fill(i, offset, offset + j.batch);
    offset += j.batch;
  });
  feeds[CANDIDATE_USER_INPUT] = new ort.Tensor('int64', candUser.data, [total]);
  return feeds;
}
