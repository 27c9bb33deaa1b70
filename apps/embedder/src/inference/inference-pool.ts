import type { Worker } from 'node:worker_threads';
import { startWorkerThread } from '@mmctr/observability';
import { PIXELS_PER_IMAGE } from '../image/image-preprocess';
import { transient } from '../errors';
import { BatchScheduler, type BatchStats } from './batch-scheduler';
import type { TextRuns } from './encoders';
import type { ThreadInit, ThreadReply, ThreadRequest } from './inference-thread';
import type { ModelSet } from './model-manifest';

export interface InferencePoolOptions {
  threads: number;
  intraOpThreads: number;
  textRuns: TextRuns;
  maxBatch: number;
  maxWaitMs: number;
  onBatch?: (s: BatchStats) => void;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

class InferenceThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<
    number,
    { resolve: (r: Float32Array[]) => void; reject: (e: unknown) => void }
  >();
  private nextId = 0;
  readonly ready: Promise<void>;
  private dead: Error | null = null;

  constructor(init: ThreadInit) {
    this.worker = startWorkerThread(__dirname, 'inference-thread', init);
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (reply: ThreadReply) => {
        if (reply.id === -1) return resolve();
        const w = this.waiting.get(reply.id);
        if (!w) return;
        this.waiting.delete(reply.id);
        if (!reply.ok) return w.reject(transient('inference_failed', reply.error));
        if ('ready' in reply) return;
        const flat = new Float32Array(reply.vectors);
        const rows: Float32Array[] = [];
        for (let i = 0; i < reply.count; i++) rows.push(flat.subarray(i * reply.dim, (i + 1) * reply.dim));
        w.resolve(rows);
      });
      const fail = (err: Error) => {
        this.dead = err;
        reject(err);
        for (const w of this.waiting.values()) w.reject(transient('inference_failed', err.message));
        this.waiting.clear();
      };
      this.worker.on('error', fail);
      this.worker.on('exit', (code) => fail(new Error(`inference thread exited with code ${code}`)));
    });
    this.ready.catch(() => {}); // observed by start(); avoids an unhandled rejection on early exit
  }

  run(req: DistributiveOmit<ThreadRequest, 'id'>, transfer: ArrayBuffer[] = []): Promise<Float32Array[]> {
    if (this.dead) return Promise.reject(transient('inference_failed', this.dead.message));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }

  async terminate(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

/**
 * The encoders behind worker threads, with micro-batching: callers ask for one vector at a time and
 * the scheduler groups requests into batches of up to maxBatch items or maxWaitMs.
 */
export class InferencePool {
  private readonly threads: InferenceThread[];
  private readonly scheduler: BatchScheduler<Uint8Array, string>;
  private turn = 0;

  private constructor(models: ModelSet, opts: InferencePoolOptions) {
    this.threads = Array.from(
      { length: opts.threads },
      () => new InferenceThread({ models, intraOpThreads: opts.intraOpThreads, textRuns: opts.textRuns }),
    );
    this.scheduler = new BatchScheduler(
      (images) => this.runImages(images),
      (texts) => this.pick().run({ kind: 'text', texts }),
      { maxBatch: opts.maxBatch, maxWaitMs: opts.maxWaitMs, slots: opts.threads },
      opts.onBatch,
    );
  }

  static async start(models: ModelSet, opts: InferencePoolOptions): Promise<InferencePool> {
    const pool = new InferencePool(models, opts);
    try {
      await Promise.all(pool.threads.map((t) => t.ready));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** L2-normalised image embedding of 224x224 RGB pixels (NHWC uint8). */
  image(pixels: Uint8Array): Promise<Float32Array> {
    return this.scheduler.image(pixels);
  }

  /** L2-normalised text embedding (tokenized and truncated in the thread). */
  text(text: string): Promise<Float32Array> {
    return this.scheduler.text(text);
  }

  get pending(): number {
    return this.scheduler.pending;
  }

  async close(): Promise<void> {
    this.scheduler.close();
    await Promise.all(this.threads.map((t) => t.terminate()));
  }

  private pick(): InferenceThread {
    // Slots == threads, so round-robin never gives one thread two batches while another idles for long.
    return this.threads[this.turn++ % this.threads.length]!;
  }

  private runImages(images: Uint8Array[]): Promise<Float32Array[]> {
    const batch = new Uint8Array(images.length * PIXELS_PER_IMAGE);
    images.forEach((px, i) => batch.set(px, i * PIXELS_PER_IMAGE));
    return this.pick().run({ kind: 'image', pixels: batch.buffer, count: images.length }, [batch.buffer]);
  }
}
