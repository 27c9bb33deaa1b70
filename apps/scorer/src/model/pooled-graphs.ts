import type { InferencePool } from './inference-pool';
import type { GraphInfo, GraphSettings, ModelGraphs, RunInput } from './model-graphs';

/** A version's graphs loaded on every thread of the inference pool; each run goes to one thread. */
export class PooledGraphs implements ModelGraphs {
  private constructor(
    private readonly pool: InferencePool,
    private readonly key: string,
    readonly serving: GraphInfo,
    readonly batch: GraphInfo | undefined,
  ) {}

  static async open(
    pool: InferencePool,
    version: string,
    servingPath: string,
    batchPath: string | undefined,
    settings: GraphSettings & { onFallback?: (reason: string) => void },
  ): Promise<PooledGraphs> {
    const key = pool.newKey(version);
    const { intraOpThreads, interOpThreads, allowSpinning, provider } = settings;
    const loaded = await pool.load(key, {
      serving: servingPath,
      ...(batchPath ? { batch: batchPath } : {}),
      settings: { intraOpThreads, interOpThreads, allowSpinning, provider },
    });
    if (loaded.fallback) settings.onFallback?.(loaded.fallback);
    return new PooledGraphs(pool, key, loaded.serving, loaded.batch);
  }

  get threads(): number {
    return this.pool.size;
  }

  run(
    graph: 'serving' | 'batch',
    inputs: RunInput[],
    returned?: (buffers: ArrayBuffer[]) => void,
    thread?: number,
  ): Promise<Float32Array> {
    return this.pool.run(this.key, graph, inputs, returned, thread);
  }

  release(): Promise<void> {
    return this.pool.release(this.key);
  }
}
