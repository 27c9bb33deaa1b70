// Where a model version's graphs run: onnxruntime sessions on the request loop (in-process, the
// default) or in every thread of an inference pool (SCORER_INFERENCE_WORKERS > 0). OnnxModel checks,
// warms and runs a version the same way through either.
import * as ort from 'onnxruntime-node';

/** onnxruntime options of a version's sessions. */
export interface GraphSettings {
  intraOpThreads: number;
  interOpThreads: number;
  allowSpinning: boolean;
  provider: 'cpu' | 'cuda';
}

/** What a loaded graph takes and answers (its signature is checked against the layout). */
export interface GraphInfo {
  inputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  inputNames: readonly string[];
  outputNames: readonly string[];
}

/** One input of a run as plain data: what crosses to an inference thread (its buffer transferred). */
export interface RunInput {
  name: string;
  dtype: 'int64' | 'float32';
  dims: number[];
  /** The tensor's values (a view over the start of its buffer). */
  data: BigInt64Array | Float32Array;
}

/** onnxruntime tensors over run inputs (views, no copies). */
export const tensorsOf = (inputs: readonly RunInput[]): Record<string, ort.Tensor> =>
  Object.fromEntries(inputs.map((i) => [i.name, new ort.Tensor(i.dtype, i.data, i.dims)]));

/** A run's `ctr` output as a Float32Array of its own (safe to keep after the next run). */
export function ctrOf(out: ort.InferenceSession.OnnxValueMapType, version: string): Float32Array {
  const ctr = out.ctr;
  if (!ctr) throw new Error(`model ${version} returned no ctr`);
  return Float32Array.from(ctr.data as Float32Array);
}

export async function createSession(
  path: string,
  s: GraphSettings,
  onFallback?: (reason: string) => void,
): Promise<ort.InferenceSession> {
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
      onFallback?.((err as Error).message);
    }
  }
  return ort.InferenceSession.create(path, { ...base, executionProviders: ['cpu'] });
}

export const graphInfo = (s: ort.InferenceSession): GraphInfo => ({
  inputMetadata: s.inputMetadata,
  inputNames: s.inputNames,
  outputNames: s.outputNames,
});

/**
 * A version's serving graph and, with micro-batching, its batch graph. `run` hands over `inputs`; the
 * pooled backend transfers their buffers and gives them back through `returned` before resolving.
 */
export interface ModelGraphs {
  readonly serving: GraphInfo;
  readonly batch: GraphInfo | undefined;
  /** Threads the graphs are loaded on (each is warmed). */
  readonly threads: number;
  /** `thread`: that thread of the pool (warm-up); otherwise the least busy. */
  run(
    graph: 'serving' | 'batch',
    inputs: RunInput[],
    returned?: (buffers: ArrayBuffer[]) => void,
    thread?: number,
  ): Promise<Float32Array>;
  release(): Promise<void>;
}

/** The graphs as sessions of this thread: a run blocks the request loop for its duration. */
export class LocalGraphs implements ModelGraphs {
  readonly threads = 1;

  private constructor(
    private readonly version: string,
    private readonly servingSession: ort.InferenceSession,
    private readonly batchSession: ort.InferenceSession | undefined,
  ) {}

  static async open(
    version: string,
    servingPath: string,
    batchPath: string | undefined,
    settings: GraphSettings,
    onFallback?: (reason: string) => void,
  ): Promise<LocalGraphs> {
    const serving = await createSession(servingPath, settings, onFallback);
    try {
      const batch = batchPath ? await createSession(batchPath, settings, onFallback) : undefined;
      return new LocalGraphs(version, serving, batch);
    } catch (err) {
      await serving.release();
      throw err;
    }
  }

  get serving(): GraphInfo {
    return graphInfo(this.servingSession);
  }

  get batch(): GraphInfo | undefined {
    return this.batchSession && graphInfo(this.batchSession);
  }

  async run(graph: 'serving' | 'batch', inputs: RunInput[]): Promise<Float32Array> {
    const session = graph === 'serving' ? this.servingSession : this.batchSession;
    if (!session) throw new Error(`model ${this.version} has no batch graph`);
    return ctrOf(await session.run(tensorsOf(inputs)), this.version);
  }

  async release(): Promise<void> {
    await this.servingSession.release().catch(() => undefined);
    await this.batchSession?.release().catch(() => undefined);
  }
}
